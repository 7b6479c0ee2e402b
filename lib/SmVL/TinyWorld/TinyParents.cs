using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using Generator = SmVL.Generation.Generator;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using SmVL.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.TinyWorld;

/// <summary>
/// Pretrains the tiny world's two parents, as HF-format folders, like the real ones:
/// a "Qwen3" parent (real Qwen3 tokenizer ids, Qwen3 architecture) that has only read Chinese text
/// — scene descriptions followed by a question and its answer, in the Qwen3 chat format, so it
/// learns to read facts from its context (what the connector will later feed it); the descriptions
/// are sketches laid out like an image prompt (<see cref="SketchSample"/>); and a
/// "SmolVLM2" parent whose vision tower has learned to see shapes, colours and where they are.
/// The vision tower learns from a dense auxiliary task (<see cref="CellTask"/>). Both parents train
/// with the project's <see cref="Trainer"/>.
/// </summary>
/// <param name="cancel">checked between steps: pretraining stops there with an <see cref="OperationCanceledException"/></param>
public sealed class TinyParents(TinySettings s, Processor processor, Action<string> log, CancellationToken cancel = default)
{
    /// <summary>Qwen3's ids: `&lt;|image_pad|&gt;` (what the processor writes), the parent VLM's own image id, `&lt;|endoftext|&gt;`, `&lt;|im_end|&gt;`.</summary>
    public const int ImageTokenId = 151655, ParentImageTokenId = 151656, PadTokenId = 151643, EosTokenId = 151645;

    /// <summary>SmolVLM's image processor at the tiny sizes: tiles 32 px, longest edge 64.</summary>
    public static ImageProcessorConfig ImageConfig => ImageProcessorConfig.SmolVLM2 with { LongestEdge = 64, MaxImageSize = 32 };

    /// <summary>The tiny processor: the real Qwen3 tokenizer and Qwen3-SmVL template, patch 8 and pixel shuffle 2 → 4 tokens per tile.</summary>
    public static Processor CreateProcessor()
    {
        var tok = Tokenizer.Qwen3();
        return new Processor(tok, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageConfig), ImageTokens.Qwen3SmVL(tok),
            imageSeqLen: 4, padTokenId: PadTokenId);
    }

    /// <summary>The "SmolVLM2" parent: a small vision tower and a Llama text model (replaced when stitching), its own image-token id.</summary>
    public static SmolVLMConfig ParentConfig(TinySettings s) => new()
    {
        ImageTokenId = ParentImageTokenId, ScaleFactor = 2, TieWordEmbeddings = true, VocabSize = 151936,
        VisionConfig = new VisionConfig { HiddenSize = s.Hidden, IntermediateSize = 2 * s.Hidden, NumHiddenLayers = s.Layers, NumAttentionHeads = 4, ImageSize = 32, PatchSize = s.PatchSize },
        TextConfig = LmConfig(s) with
        {
            ModelType = "llama", Architectures = new[] { "LlamaForCausalLM" }, HeadDimOrNull = null,
            HiddenSize = s.Hidden, IntermediateSize = 2 * s.Hidden, NumHiddenLayers = s.Layers,
        },
    };

    /// <summary>The "Qwen3" parent: Qwen3's architecture and full vocabulary at the tiny width and depth.</summary>
    public static TextConfig LmConfig(TinySettings s) => new()
    {
        ModelType = "qwen3", Architectures = new[] { "Qwen3ForCausalLM" }, VocabSize = 151936, HiddenSize = s.LanguageHidden,
        IntermediateSize = 2 * s.LanguageHidden, NumHiddenLayers = s.LanguageLayers, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDimOrNull = 16,
        RmsNormEps = 1e-6, RopeThetaOrNull = s.RopeTheta, TieWordEmbeddings = true, MaxPositionEmbeddings = 4096,
        EosTokenIdNode = JsonValue.Create(EosTokenId), TorchDtype = "float32",
    };

    /// <summary>
    /// The two pretrained parent folders in HF format, cached under the cache directory by their
    /// settings (<see cref="TinySettings.LanguageParentKey"/>, <see cref="TinySettings.VisionParentKey"/>):
    /// built once, reused by every later run.
    /// </summary>
    public static (string vlm, string lm) Folders(TinySettings s, Processor processor, Action<string> log, CancellationToken cancel = default)
    {
        string root = Path.Combine(Paths.Cache, "tinyworld");
        string vlm = Path.Combine(root, "smolvlm-parent-" + s.VisionParentKey), lm = Path.Combine(root, "qwen3-parent-" + s.LanguageParentKey);
        var parents = new TinyParents(s, processor, log, cancel);
        // Parent data: its own random stream, so no parent ever saw a held-out image.
        List<TinyWorldSample>? data = null;
        List<TinyWorldSample> Data() => data ??= new TinyWorldGenerator(s.Seed, stream: 7).Generate(Math.Max(s.ParentImages, s.LanguageScenes)).ToList();
        // Side by side, half the cores each; the same thread schedule whether or not the other parent is cached.
        // The tower always trains on one thread: its float sums change with its thread count, and the
        // stitched model's accuracy with them (docs/tinyworld.md). The reader computes each micro-batch on
        // one thread too, side by side once it has several cores, so neither parent depends on the core count.
        var jobs = new List<CoreShare.Job>();
        if (!File.Exists(Path.Combine(lm, "config.json")))
            jobs.Add(new("language", cores => parents.PretrainLanguage(lm, Data().Take(s.LanguageScenes).ToList(), cores), s.LanguageAllCoresFrom));
        else log($"qwen3 parent: cached at {lm}");
        if (!File.Exists(Path.Combine(vlm, "config.json")))
            jobs.Add(new("vision", cores => parents.PretrainVision(vlm, Data().Take(s.ParentImages).ToList(), cores), MaxThreads: 1));
        else log($"smolvlm parent: cached at {vlm}");
        if (jobs.Count == 2) Data();   // built once here: the lazy list is not safe to build from two threads
        CoreShare.Run(jobs, s.Cores, shares: 2);
        // Its image settings, as a real SmolVLM2 folder has them: the folder pair is also a pair of ordinary HF parents.
        string images = Path.Combine(vlm, "preprocessor_config.json");
        if (!File.Exists(images)) processor.Images.Config.Save(images);
        return (vlm, lm);
    }

    public static int PatchClasses => Enum.GetValues<ShapeKind>().Length * Enum.GetValues<ShapeColour>().Length + 1;

    /// <summary>
    /// A scene sketch: exactly the token layout of an image prompt (tile markers, rows, global
    /// image), but where each image token would stand, one code word naming what is in that cell of
    /// the crop (`0` empty, `A`…`T` one per shape×colour). The parent learns to read a picture laid
    /// out the way the stitched model will see one, so the connector only has to turn each cell's
    /// vision features into that cell's word.
    /// </summary>
    public ProcessedSample SketchSample(TinyScene scene, TinyQuestion q, bool withAnswer = true)
    {
        var (rows, cols) = processor.Images.Grid(scene.Width, scene.Height);
        // The prompt's tokens depend on the question, the answer and the tile grid only: rendered once
        // through the real processor per combination (the template engine is ~5 ms a call), then reused.
        var key = (q.Text, withAnswer ? q.Answer : null, rows, cols);
        if (!_layouts.TryGetValue(key, out var layout))
        {
            var messages = new List<ChatMessage> { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart(q.Text)) };
            if (withAnswer) messages.Add(ChatMessage.Assistant(q.Answer));
            _layouts[key] = layout = processor.Process(messages, new[] { TinyWorldRasteriser.Render(scene) }, LabelPolicy.AssistantOnly,
                addGenerationPrompt: !withAnswer, templateVars: ChatTemplate.NoThinking);
        }
        var cells = CellClasses(scene, rows, cols);
        var ids = (long[])layout.InputIds.Clone();
        int k = 0;
        for (int i = 0; i < ids.Length; i++) if (ids[i] == processor.ImageTokenId) ids[i] = CellWord(cells[k++]);
        return new ProcessedSample(ids, layout.Labels, Array.Empty<ProcessedImage>());
    }

    private readonly Dictionary<(string, string?, int, int), ProcessedSample> _layouts = new();
    private long[]? _cellWords;
    private long CellWord(int cls) => (_cellWords ??= Enumerable.Range(0, PatchClasses)
        .Select(c => (long)processor.Tokenizer.Encode(c == 0 ? "0" : ((char)('A' + c - 1)).ToString()).Single()).ToArray())[cls];

    /// <summary>
    /// Class per image token, crop by crop (tiles row-major, then the global crop; <paramref name="rows"/> 0 when unsplit): the shape whose centre falls in the token's cell (the
    /// patch·scale square it covers), else empty. One word per shape in the tiles, so counting words counts
    /// shapes: counting tile words gives every kind's count in 99.9% of scenes. (A word per cell for its majority class
    /// lost shapes: counting tile words gave every kind's count in only 29% of scenes.)
    /// </summary>
    public int[] CellClasses(TinyScene scene, int rows, int cols)
    {
        var cfg = processor.Images.Config;
        var (rw, rh) = ImageProcessor.ResizeTarget(scene.Width, scene.Height, cfg.LongestEdge);
        var (ew, eh) = ImageProcessor.VisionEncoderTarget(rw, rh, cfg.MaxImageSize);
        int tile = cfg.MaxImageSize, crops = rows > 0 ? rows * cols + 1 : 1;
        int cell = s.PatchSize * ParentConfig(s).ScaleFactor, perSide = tile / cell, perCrop = perSide * perSide;
        var cells = new int[crops * perCrop];
        // Smallest first: when two centres share a cell (0.1% of scenes), the larger shape, written last, keeps it.
        foreach (var shape in scene.Shapes.OrderBy(sh => sh.Size))
        {
            int cls = 1 + (int)shape.Kind * Enum.GetValues<ShapeColour>().Length + (int)shape.Colour;
            double ex = shape.Cx * ew / scene.Width, ey = shape.Cy * eh / scene.Height;   // centre in the encoder-sized image
            if (rows > 0)
            {
                int c = Math.Min((int)(ex / tile), cols - 1), r = Math.Min((int)(ey / tile), rows - 1);
                cells[(r * cols + c) * perCrop + Cell(ey - r * tile) * perSide + Cell(ex - c * tile)] = cls;
            }
            // The global crop (the only one when unsplit) is the whole image resized to one tile.
            cells[(crops - 1) * perCrop + Cell(ey * tile / eh) * perSide + Cell(ex * tile / ew)] = cls;
        }
        return cells;

        int Cell(double x) => Math.Clamp((int)(x / cell), 0, perSide - 1);
    }

    public void PretrainLanguage(string dir, IReadOnlyList<TinyWorldSample> train, CoreShare? cores = null)
    {
        cancel.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        manual_seed(s.Seed);
        var samples = train.Select(t => { cancel.ThrowIfCancellationRequested(); return SketchSample(t.Scene, t.Zh); }).ToList();
        var full = LmConfig(s);
        var vocabulary = new CompactVocabulary(samples.SelectMany(x => x.InputIds).Append(PadTokenId).Append(EosTokenId), full.VocabSize);
        log($"qwen3 parent: {samples.Count} texts use {vocabulary.Used.Count} of {full.VocabSize} token ids; the rest share one row while pretraining");
        using var compact = new CompactVocabularyLM(full, vocabulary);
        WeightInit.HfNormal(compact, 0.02, s.Seed);
        var options = new TrainOptions
        {
            Steps = s.LanguageSteps, GradAccum = s.LanguageMicroBatches, LearningRate = s.LanguageLearningRate, Schedule = "cosine", WarmupRatio = 0.03,
            EvalEvery = 0, SaveEvery = 0, WeightDecay = 0.0, ProgressLabel = "language",
        };
        // The micro-batches of a step run side by side on as many cores as the job has (its ops are too
        // small for libtorch's threads to help), one libtorch thread each: the weights do not depend on it.
        var replicas = Enumerable.Range(1, s.LanguageMicroBatches - 1).Select(_ => new CompactVocabularyLM(full, vocabulary)).ToList();
        if (s.LanguageWordNoise > 0)
        {
            var words = Enumerable.Range(0, PatchClasses).Select(c => (long)vocabulary.Used.ToList().IndexOf(CellWord(c))).ToArray();
            foreach (var m in replicas.Prepend(compact)) m.InputNoise = (words, s.LanguageWordNoise);
        }
        using var parallel = new ParallelMicroBatches(compact, replicas) { Workers = cores?.Threads ?? 1 };
        using var trainer = new Trainer(compact, options, Path.Combine(dir, "pretraining")) { Tensorboard = false, Parallel = parallel };
        trainer.Run(vocabulary.Map(new SampleBatches(processor, samples, s.ParentBatch / s.LanguageMicroBatches, s.Seed)), cancel: cancel, onStep: (step, _) =>
        {
            cores?.Step(step);
            parallel.Workers = cores?.Threads ?? 1;
        });
        using var lm = vocabulary.Export(compact.lm, full);
        var heldOut = new TinyWorldGenerator(s.Seed, stream: 8).Generate(200).ToList();
        var sketches = ReadingAccuracy(lm, heldOut.Select(t => (SketchSample(t.Scene, t.Zh, withAnswer: false), t.Zh)));
        log($"qwen3 parent reads held-out sketches: {Describe(sketches)}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "reading_accuracy.json"), JsonSerializer.Serialize(new { sketches }, new JsonSerializerOptions { WriteIndented = true }));
        lm.Config.Save(Path.Combine(dir, "config.json"));
        CheckpointLoader.Save(lm, dir);
        log($"qwen3 parent: {s.LanguageSteps} steps, loss {trainer.Losses.Take(5).Average():F3} → {trainer.Losses.TakeLast(20).Average():F3}, {clock.Elapsed.TotalSeconds:F0}s");
    }

    private static string Describe(IReadOnlyDictionary<string, double> accuracy) =>
        string.Join(", ", accuracy.Select(kv => $"{kv.Key} {kv.Value:P0}"));

    /// <summary>Greedy exact-match accuracy of a text model on prompts with known answers (how well it reads its context), overall and per type.</summary>
    private Dictionary<string, double> ReadingAccuracy(Qwen3ForCausalLM lm, IEnumerable<(ProcessedSample prompt, TinyQuestion q)> items)
    {
        lm.eval();
        var counts = new Dictionary<string, (int ok, int n)>();
        var options = new GenerationOptions { MaxNewTokens = 40, EosTokenIds = new long[] { EosTokenId }, PadTokenId = PadTokenId };
        foreach (var chunk in items.Chunk(25))
        {
            using var result = Generator.Generate(lm, chunk.Select(c => c.prompt.InputIds).ToList(), null, options);
            for (int i = 0; i < chunk.Length; i++)
            {
                string text = processor.Tokenizer.Decode(result.Tokens[i].Where(t => t != EosTokenId).Select(t => (int)t), skipSpecialTokens: true);
                int hit = VqaAccuracy.Matches(text, chunk[i].q.Answer) ? 1 : 0;
                foreach (var key in new[] { "overall", TinyWorldVocabulary.TypeName(chunk[i].q.Type) })
                {
                    var (ok, n) = counts.GetValueOrDefault(key);
                    counts[key] = (ok + hit, n + 1);
                }
            }
        }
        return counts.ToDictionary(kv => kv.Key, kv => (double)kv.Value.ok / kv.Value.n);
    }

    /// <summary>Tiles (N, 3, H, W) of one image and the class of each image-token cell (N·cells), as in <see cref="CellClasses"/>.</summary>
    public (float[] pixels, int tiles, long[] labels) VisionSample(TinyScene scene, RgbImage image)
    {
        var p = processor.Images.Process(image);
        return (p.PixelValues, p.NumImages, CellClasses(scene, p.Rows, p.Cols).Select(l => (long)l).ToArray());
    }

    public void PretrainVision(string dir, IReadOnlyList<TinyWorldSample> train, CoreShare? cores = null)
    {
        cancel.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        manual_seed(s.Seed + 1);
        var config = ParentConfig(s);
        using var parent = new SmolVLMForConditionalGeneration(config);
        WeightInit.HfNormal(parent, 0.02, s.Seed + 1);
        using var task = new CellTask(parent.model.vision_model, config.ScaleFactor, PatchClasses, s.Seed + 2);
        var data = train.Select(t => { cancel.ThrowIfCancellationRequested(); return VisionSample(t.Scene, TinyWorldRasteriser.Render(t.Scene)); }).ToList();
        var options = new TrainOptions
        {
            Steps = s.VisionSteps, GradAccum = 1, LearningRate = s.VisionLearningRate, Schedule = "cosine", WarmupSteps = s.VisionSteps / 30,
            WeightDecay = 0.0, ClipNorm = 0, EvalEvery = 0, SaveEvery = 0, ProgressLabel = "vision",
        };
        using var trainer = new Trainer(task, options, Path.Combine(dir, "pretraining")) { Tensorboard = false };
        trainer.Run(task.Objective(data, s.ParentBatch, s.Seed), onStep: (step, _) => cores?.Step(step), cancel: cancel);
        var seeing = SeeingAccuracy(task, new TinyWorldGenerator(s.Seed, stream: 8).Generate(200));
        log($"smolvlm parent: vision tower {s.VisionSteps} steps of the dense cell task, loss {trainer.Losses.Take(5).Average():F3} → {trainer.Losses.TakeLast(20).Average():F3}, {clock.Elapsed.TotalSeconds:F0}s; " +
            "held-out cells right: " + string.Join(", ", seeing.Select(kv => $"{kv.Key} {kv.Value:P1}")));
        Stitcher.Save(parent, dir);
        File.WriteAllText(Path.Combine(dir, "seeing_accuracy.json"), JsonSerializer.Serialize(seeing, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// How well the tower (with its cell head) classifies held-out cells, in the tiles and in the
    /// global crop (half the resolution): the upper bound of what a connector can pass on.
    /// </summary>
    private Dictionary<string, double> SeeingAccuracy(CellTask task, IEnumerable<TinyWorldSample> heldOut)
    {
        task.eval();
        using var _ = no_grad();
        var counts = new Dictionary<string, (long ok, long n)>();
        foreach (var t in heldOut)
        {
            using var scope = NewDisposeScope();
            var (pixels, tiles, labels) = VisionSample(t.Scene, TinyWorldRasteriser.Render(t.Scene));
            int side = processor.Images.Config.MaxImageSize, perCrop = labels.Length / tiles;
            var predicted = task.forward(tensor(pixels, new long[] { tiles, 3, side, side })).argmax(-1).data<long>().ToArray();
            for (int i = 0; i < labels.Length; i++)
            {
                string key = (labels[i] == 0 ? "empty_cells" : "shape_cells") + (i / perCrop == tiles - 1 ? "_global" : "_tiles");
                var (ok, n) = counts.GetValueOrDefault(key);
                counts[key] = (ok + (predicted[i] == labels[i] ? 1 : 0), n + 1);
            }
        }
        return counts.OrderBy(kv => kv.Key).ToDictionary(kv => kv.Key, kv => (double)kv.Value.ok / kv.Value.n);
    }
}
