using System.Diagnostics;
using System.Text.Json;
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

namespace SmVL.Pipelines;

/// <summary>
/// Pretrains the tiny world's two parents, as HF-format folders, like the real ones:
/// a "Qwen3" parent (real Qwen3 tokenizer ids, Qwen3 architecture) that has only read Chinese text
/// — scene descriptions followed by a question and its answer, in the Qwen3 chat format, so it
/// learns to read facts from its context (what the connector will later feed it) — both as
/// sentences and as sketches laid out like an image prompt (<see cref="SketchSample"/>); and a
/// "SmolVLM2" parent whose vision tower has learned to see shapes, colours and where they are.
/// The vision tower learns from a dense auxiliary task (tinyworld-notes.md: end-to-end VQA loss alone
/// did not teach it): classify every image-token cell (its pixel-shuffled patches) as empty or one of the shape×colour classes.
/// </summary>
public sealed class TinyParents(TinySettings s, Processor processor, Action<string> log)
{
    private static readonly Dictionary<string, object?> NoThinking = new() { ["enable_thinking"] = false };
    public static int PatchClasses => Enum.GetValues<ShapeKind>().Length * Enum.GetValues<ShapeColour>().Length + 1;

    /// <summary>Text-only sample: user = description + question, assistant = answer (assistant-only loss).</summary>
    public ProcessedSample LanguageSample(TinyScene scene, TinyQuestion q, bool withAnswer = true)
    {
        var messages = new List<ChatMessage> { ChatMessage.User(scene.Describe("zh") + "\n" + q.Text) };
        if (withAnswer) messages.Add(ChatMessage.Assistant(q.Answer));
        return processor.Process(messages, Array.Empty<RgbImage>(), LabelPolicy.AssistantOnly, addGenerationPrompt: !withAnswer, templateVars: NoThinking);
    }

    /// <summary>
    /// A scene sketch: exactly the token layout of an image prompt (tile markers, rows, global
    /// image), but where each image token would stand, one code word naming what is in that cell of
    /// the crop (`0` empty, `A`…`T` one per shape×colour). The parent learns to read a picture laid
    /// out the way the stitched model will see one, so the connector only has to turn each cell's
    /// vision features into that cell's word.
    /// </summary>
    public ProcessedSample SketchSample(TinyScene scene, TinyQuestion q, bool withAnswer = true)
    {
        var image = TinyWorldRasteriser.Render(scene);
        var messages = new List<ChatMessage> { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart(q.Text)) };
        if (withAnswer) messages.Add(ChatMessage.Assistant(q.Answer));
        var withImage = processor.Process(messages, new[] { image }, LabelPolicy.AssistantOnly, addGenerationPrompt: !withAnswer, templateVars: NoThinking);
        var cells = CellClasses(scene, image, withImage.Images[0]);
        var ids = (long[])withImage.InputIds.Clone();
        int k = 0;
        for (int i = 0; i < ids.Length; i++) if (ids[i] == processor.ImageTokenId) ids[i] = CellWord(cells[k++]);
        return new ProcessedSample(ids, withImage.Labels, Array.Empty<ProcessedImage>());
    }

    private long[]? _cellWords;
    private long CellWord(int cls) => (_cellWords ??= Enumerable.Range(0, PatchClasses)
        .Select(c => (long)processor.Tokenizer.Encode(c == 0 ? "0" : ((char)('A' + c - 1)).ToString()).Single()).ToArray())[cls];

    /// <summary>Class per image token: crop by crop, the s×s block of patches each token covers (majority non-empty class).</summary>
    public int[] CellClasses(TinyScene scene, RgbImage image, ProcessedImage p)
    {
        var labels = PatchLabels(scene, image, p);
        int perSide = p.Width / s.PatchSize, scale = TinyWorldRun.ParentConfig(s).ScaleFactor, cellsPerSide = perSide / scale;
        var cells = new int[p.NumImages * cellsPerSide * cellsPerSide];
        for (int t = 0; t < p.NumImages; t++)
            for (int ci = 0; ci < cellsPerSide; ci++)
                for (int cj = 0; cj < cellsPerSide; cj++)
                {
                    var counts = new int[PatchClasses];
                    for (int a = 0; a < scale; a++)
                        for (int b = 0; b < scale; b++)
                            counts[labels[(t * perSide + ci * scale + a) * perSide + cj * scale + b]]++;
                    int best = 0;
                    for (int c = 1; c < PatchClasses; c++) if (counts[c] > 0 && (best == 0 || counts[c] > counts[best])) best = c;
                    cells[(t * cellsPerSide + ci) * cellsPerSide + cj] = best;
                }
        return cells;
    }

    public void PretrainLanguage(string dir, IReadOnlyList<TinyWorldSample> train)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(s.Seed);
        // Half sentence descriptions, half sketches in the image-prompt layout.
        var samples = train.Select((t, i) => i % 2 == 0 ? SketchSample(t.Scene, t.Zh) : LanguageSample(t.Scene, t.Zh)).ToList();
        var full = TinyWorldRun.LmConfig(s);
        var vocabulary = new CompactVocabulary(samples.SelectMany(x => x.InputIds).Append(TinyWorldRun.PadTokenId).Append(TinyWorldRun.EosTokenId), full.VocabSize);
        log($"qwen3 parent: {samples.Count} texts use {vocabulary.Used.Count} of {full.VocabSize} token ids; the rest share one row while pretraining");
        using var compact = new CompactVocabularyLM(full, vocabulary);
        WeightInit.HfNormal(compact, 0.02, s.Seed);
        var options = new TrainOptions
        {
            Steps = s.LanguageSteps, GradAccum = 1, LearningRate = 3e-3, Schedule = "cosine", WarmupRatio = 0.03,
            EvalEvery = 0, SaveEvery = 0, WeightDecay = 0.0,
        };
        var trainer = new Trainer(compact, options, Path.Combine(dir, "pretraining")) { Tensorboard = false };
        trainer.Run(vocabulary.Map(new SampleBatches(processor, samples, s.ParentBatch, s.Seed)));
        using var lm = vocabulary.Export(compact.lm, full);
        var heldOut = new TinyWorldGenerator(s.Seed, stream: 8).Generate(200).ToList();
        var sentences = ReadingAccuracy(lm, heldOut.Select(t => (LanguageSample(t.Scene, t.Zh, withAnswer: false), t.Zh)));
        var sketches = ReadingAccuracy(lm, heldOut.Select(t => (SketchSample(t.Scene, t.Zh, withAnswer: false), t.Zh)));
        log($"qwen3 parent reads held-out scenes: {Describe(sentences)} from sentences; {Describe(sketches)} from sketches");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "reading_accuracy.json"), JsonSerializer.Serialize(new { sentences, sketches }, new JsonSerializerOptions { WriteIndented = true }));
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
        var options = new GenerationOptions { MaxNewTokens = 40, EosTokenIds = new long[] { TinyWorldRun.EosTokenId }, PadTokenId = TinyWorldRun.PadTokenId };
        foreach (var chunk in items.Chunk(25))
        {
            using var result = Generator.Generate(lm, chunk.Select(c => c.prompt.InputIds).ToList(), null, options);
            for (int i = 0; i < chunk.Length; i++)
            {
                string text = processor.Tokenizer.Decode(result.Tokens[i].Where(t => t != TinyWorldRun.EosTokenId).Select(t => (int)t), skipSpecialTokens: true);
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
        return (p.PixelValues, p.NumImages, CellClasses(scene, image, p).Select(l => (long)l).ToArray());
    }

    /// <summary>For every patch of every crop, the class of the shape under its centre (0 = empty).</summary>
    public int[] PatchLabels(TinyScene scene, RgbImage image, ProcessedImage p)
    {
        var cfg = processor.Images.Config;
        var (rw, rh) = ImageProcessor.ResizeTarget(image.Width, image.Height, cfg.LongestEdge);
        var (ew, eh) = ImageProcessor.VisionEncoderTarget(rw, rh, cfg.MaxImageSize);
        int patch = s.PatchSize, perSide = p.Width / patch;
        var labels = new int[p.NumImages * perSide * perSide];
        for (int t = 0; t < p.NumImages; t++)
        {
            bool global = p.Rows > 0 && t == p.NumImages - 1 || p.Rows == 0;
            int r = p.Rows > 0 && !global ? t / p.Cols : 0, c = p.Rows > 0 && !global ? t % p.Cols : 0;
            for (int i = 0; i < perSide; i++)
                for (int j = 0; j < perSide; j++)
                {
                    // patch centre in the encoder-sized image, then in the original image
                    double ex = global ? (j * patch + patch / 2.0) * ew / p.Width : c * p.Width + j * patch + patch / 2.0;
                    double ey = global ? (i * patch + patch / 2.0) * eh / p.Height : r * p.Height + i * patch + patch / 2.0;
                    double x = ex * image.Width / ew, y = ey * image.Height / eh;
                    var shape = scene.Shapes.FirstOrDefault(sh => sh.Contains(x, y));
                    labels[(t * perSide + i) * perSide + j] = shape is null ? 0 : 1 + (int)shape.Kind * Enum.GetValues<ShapeColour>().Length + (int)shape.Colour;
                }
        }
        return labels;
    }

    public void PretrainVision(string dir, IReadOnlyList<TinyWorldSample> train)
    {
        var clock = Stopwatch.StartNew();
        manual_seed(s.Seed + 1);
        var config = TinyWorldRun.ParentConfig(s);
        using var parent = new SmolVLMForConditionalGeneration(config);
        WeightInit.HfNormal(parent, 0.02, s.Seed + 1);
        var vision = parent.model.vision_model;
        // The dense task is posed on exactly what the connector will see: one pixel-shuffled cell
        // (scale² patches) per image token. Labelled per patch instead, a linear read-out of the cell's
        // class from the connector's input recovered only 35% of non-empty cells.
        int scale = config.ScaleFactor;
        using var head = nn.Linear(config.VisionConfig.HiddenSize * scale * scale, PatchClasses);
        var data = train.Select(t => VisionSample(t.Scene, TinyWorldRasteriser.Render(t.Scene))).ToList();
        var parameters = vision.parameters().Concat(head.parameters()).ToList();
        using var optimizer = optim.AdamW(parameters, 3e-3, weight_decay: 0.0);
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random((int)s.Seed).Shuffle(order);
        var bar = new ProgressBar("vision", s.VisionSteps);
        double first = 0, last = 0;
        for (long step = 0; step < s.VisionSteps; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.ParamGroups.First().LearningRate = Schedules.Cosine(step, s.VisionSteps / 30, s.VisionSteps, 3e-3);
            var batch = Enumerable.Range(0, s.ParentBatch).Select(j => data[order[(int)((step * s.ParentBatch + j) % data.Count)]]).ToList();
            var pixels = cat(batch.Select(b => tensor(b.pixels, new long[] { b.tiles, 3, config.VisionConfig.ImageSize, config.VisionConfig.ImageSize })).ToList(), 0);
            var labels = cat(batch.Select(b => tensor(b.labels)).ToList(), 0);
            var logits = head.forward(PixelShuffleConnector.PixelShuffle(vision.forward(pixels), scale)).reshape(-1, PatchClasses);
            var loss = nn.functional.cross_entropy(logits, labels);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            double value = loss.item<float>();
            if (step == 0) first = value;
            last = 0.95 * (step == 0 ? value : last) + 0.05 * value;
            bar.Report(step + 1, $"loss {value:F4}");
        }
        Stitcher.Save(parent, dir);
        log($"smolvlm parent: vision tower {s.VisionSteps} steps of cell classification, loss {first:F3} → {last:F3}, {clock.Elapsed.TotalSeconds:F0}s");
    }
}
