using System.Diagnostics;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using Generator = SmVL.Generation.Generator;
using SmVL.Models;
using SmVL.Plots;
using SmVL.Processing;
using SmVL.Stitching;
using SmVL.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Pipelines;

/// <summary>Sizes and steps of the embedded default ("tiny world").</summary>
public sealed record TinySettings
{
    public int TrainImages { get; init; } = 4000;
    public int EvalImages { get; init; } = 200;
    /// <summary>Stitch steps per run (docs/tinyworld.md has what other counts gave).</summary>
    public long Steps { get; init; } = 500;
    public int MicroBatch { get; init; } = 16;
    /// <summary>Stitch peak learning rate (docs/tinyworld.md: the rates tried).</summary>
    public double LearningRate { get; init; } = 1e-2;
    public ConnectorInitKind ConnectorInit { get; init; } = ConnectorInitKind.PyTorchDefault;
    public long Seed { get; init; } = 1;
    public int Hidden { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int PatchSize { get; init; } = 8;
    /// <summary>
    /// The Qwen3 parent's width and depth (the SmolVLM parent's own text model, replaced when stitching,
    /// takes Hidden and Layers). Two layers, not three: a deeper reader reads exact sketches better but
    /// connector outputs, which are only near its words, worse.
    /// </summary>
    public int LanguageHidden { get; init; } = 64;
    public int LanguageLayers { get; init; } = 2;
    /// <summary>
    /// Qwen3's 1e6 base, with 16-dim heads, leaves two rotary pairs that turn more than once over a
    /// prompt; at 1e4 the parent tells neighbouring tokens apart.
    /// </summary>
    public double RopeTheta { get; init; } = 10_000;
    /// <summary>Images the vision parent learns from.</summary>
    public int ParentImages { get; init; } = 12000;
    /// <summary>Scenes the Qwen3 parent reads (one question each): many, since few scenes seen many times are memorised.</summary>
    public int LanguageScenes { get; init; } = 64000;
    /// <summary>Qwen3 parent pretraining: the reader bounds the stitched model (docs/tinyworld.md: steps and rates tried).</summary>
    public long LanguageSteps { get; init; } = 7000;
    public double LanguageLearningRate { get; init; } = 1e-2;
    /// <summary>Vision parent pretraining (the dense cell task; docs/tinyworld.md: steps tried).</summary>
    public long VisionSteps { get; init; } = 8000;
    /// <summary>
    /// Each parent trains on half the cores; the Qwen3 parent takes every core from this step on, once
    /// the tower has finished (it waits for it there). A fixed step, not "when the tower is done", so
    /// the reader's thread count at each step, and with it its weights, never depends on timing.
    /// </summary>
    public long LanguageAllCoresFrom { get; init; } = 3500;
    public double VisionLearningRate { get; init; } = 3e-3;
    public int ParentBatch { get; init; } = 32;

    /// <summary>Same stages, small.</summary>
    public static TinySettings Quick => new()
    {
        TrainImages = 1000, EvalImages = 100, Steps = 120, MicroBatch = 16, ParentImages = 3000, LanguageScenes = 16000, LanguageSteps = 800, LanguageAllCoresFrom = 800, LanguageLearningRate = 3e-3,
        VisionSteps = 2000, VisionLearningRate = 1e-2, ParentBatch = 32,
    };

    /// <summary>What each cached parent depends on (the version part changes when the recipe does).
    /// The core count is part of both: it sets the parents' thread counts, and so their float summation order.</summary>
    public string LanguageParentKey => $"v6-h{LanguageHidden}-l{LanguageLayers}-r{RopeTheta}-p{PatchSize}-n{LanguageScenes}-ls{LanguageSteps}-lr{LanguageLearningRate}-b{ParentBatch}-s{Seed}-c{Cores}-a{LanguageAllCoresFrom}";
    public string VisionParentKey => $"v6-h{Hidden}-l{Layers}-p{PatchSize}-n{ParentImages}-vs{VisionSteps}-lr{VisionLearningRate}-b{ParentBatch}-s{Seed}-c{Cores}";

    /// <summary>The cores the parents share: libtorch's thread count when the run starts.</summary>
    public int Cores { get; init; } = torch.get_num_threads();

    /// <summary>All settings in one short key, for caching a whole run's outputs.</summary>
    public string Key => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
        $"{LanguageParentKey}|{VisionParentKey}|{TrainImages}|{EvalImages}|{Steps}|{MicroBatch}|{LearningRate:R}|{ConnectorInit}")))[..12].ToLowerInvariant();
}

/// <summary>One run's outcome (a curve of the blog's figure plus its accuracy).</summary>
public sealed record TinyRunResult(string Name, double Accuracy, IReadOnlyDictionary<string, double> AccuracyByType,
                                   double MaxConnectorGradNorm, IReadOnlyList<double> Losses, long Trainable, long Total,
                                   IReadOnlyList<PredictionRow> Predictions);

/// <summary>
/// The blog's experiment in miniature, through the real code paths: TinyWorld written as Cauldron
/// parquet and read back by the Cauldron reader; the real Qwen3 tokenizer and the Qwen3-SmVL chat
/// template; SmolVLM's image processor at scaled-down sizes (tiles 32 px, longest edge 64, patch 8,
/// pixel shuffle 2 → 4 tokens per tile); HF-format parent folders stitched by <see cref="Stitcher"/>;
/// the <see cref="Trainer"/>; greedy generation for accuracy. Runs: connector-only (the reference
/// recipe), broken wiring with only the connector trainable (red curve) and with full fine-tuning
/// (blue curve).
/// </summary>
public sealed class TinyWorldRun
{
    public const int ImageTokenId = 151655, ParentImageTokenId = 151656, PadTokenId = 151643, EosTokenId = 151645;
    private readonly TinySettings _s;
    private readonly string _out;
    private readonly Action<string> _log;

    public TinyWorldRun(TinySettings settings, string outDir, Action<string>? log = null)
    {
        _s = settings; _out = outDir; _log = log ?? Console.WriteLine;
    }

    public static ImageProcessorConfig ImageConfig => ImageProcessorConfig.SmolVLM2 with { LongestEdge = 64, MaxImageSize = 32 };

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
    public (string vlm, string lm) Parents(Processor? processor = null)
    {
        processor ??= CreateProcessor();
        string root = Path.Combine(Paths.Cache, "tinyworld");
        string vlm = Path.Combine(root, "smolvlm-parent-" + _s.VisionParentKey), lm = Path.Combine(root, "qwen3-parent-" + _s.LanguageParentKey);
        var parents = new TinyParents(_s, processor, _log);
        // Parent data: its own random stream, so no parent ever saw a held-out image.
        List<TinyWorldSample>? data = null;
        List<TinyWorldSample> Data() => data ??= new TinyWorldGenerator(_s.Seed, stream: 7).Generate(Math.Max(_s.ParentImages, _s.LanguageScenes)).ToList();
        // Side by side, half the cores each; the same thread schedule whether or not the other parent is cached.
        var jobs = new List<CoreShare.Job>();
        if (!File.Exists(Path.Combine(lm, "config.json")))
            jobs.Add(new("language", cores => parents.PretrainLanguage(lm, Data().Take(_s.LanguageScenes).ToList(), cores), _s.LanguageAllCoresFrom));
        else _log($"qwen3 parent: cached at {lm}");
        if (!File.Exists(Path.Combine(vlm, "config.json")))
            jobs.Add(new("vision", cores => parents.PretrainVision(vlm, Data().Take(_s.ParentImages).ToList(), cores)));
        else _log($"smolvlm parent: cached at {vlm}");
        if (jobs.Count == 2) Data();   // built once here: the lazy list is not safe to build from two threads
        CoreShare.Run(jobs, _s.Cores, shares: 2);
        return (vlm, lm);
    }

    public Processor CreateProcessor()
    {
        var tok = Tokenizer.Qwen3();
        return new Processor(tok, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageConfig), ImageTokens.Qwen3SmVL(tok),
            imageSeqLen: 4, padTokenId: PadTokenId);
    }


    /// <summary>How every stitch run of the tiny world trains: its lr schedule and which tokens carry loss.</summary>
    public const string StitchSchedule = "cosine";
    public const LabelPolicy StitchLabels = LabelPolicy.AssistantOnly;

    public TinyWorldResult Run(bool includeFull = true)
    {
        var clock = Stopwatch.StartNew();
        var dataDir = Path.Combine(_out, "data");
        var export = TinyWorldExport.Write(dataDir, _s.TrainImages, _s.EvalImages, _s.Seed);
        _log($"data: {export.Train.Total} train / {export.Eval.Total} eval questions written as Cauldron parquet in {export.Elapsed.TotalSeconds:F1}s");
        var processor = CreateProcessor();
        var train = Load(processor, new CauldronReader(dataDir, "train"));
        var eval = Load(processor, new CauldronReader(dataDir, "eval"));
        var (vlmDir, lmDir) = Parents(processor);
        // One after another on every core: side by side they took as long (docs/tinyworld.md).
        var runs = new List<TinyRunResult>
        {
            TrainOne("stitched", vlmDir, lmDir, brokenWiring: false, FreezePolicy.ConnectorOnly, train, eval, processor),
            TrainOne("broken_frozen", vlmDir, lmDir, brokenWiring: true, FreezePolicy.ConnectorOnly, train, eval, processor),
        };
        if (includeFull)
        {
            runs.Add(TrainOne("broken_full", vlmDir, lmDir, brokenWiring: true, FreezePolicy.Full, train, eval, processor));
            runs.Add(TrainOne("connector_head", vlmDir, lmDir, brokenWiring: false, FreezePolicy.ConnectorAndHead, train, eval, processor));
            runs.Add(TrainOne("lora", vlmDir, lmDir, brokenWiring: false, FreezePolicy.Lora, train, eval, processor));
        }
        var stats = export.Eval;
        // The same held-out images with every run's answer side by side (the blind model next to the working one).
        var gallery = eval.Take(12).Select((e, i) => new GalleryEntry(ImageCodec.EncodePng(e.Vqa.Image), e.Vqa.Question, e.Vqa.Answer,
            runs.Select(r => (r.Name, r.Predictions[i].Prediction)).ToList())).ToList();
        var result = new TinyWorldResult(runs, stats.OverallBaseline, stats.Types.ToDictionary(t => t, stats.MajorityBaseline), clock.Elapsed.TotalSeconds, _s.Steps, gallery,
            ParentsJson(vlmDir, lmDir));
        result.Write(_out);
        return result;
    }

    /// <summary>Where the parents are and what they learned: how far each side can carry the stitched model.</summary>
    private static JsonObject ParentsJson(string vlmDir, string lmDir)
    {
        JsonNode? Read(string dir, string file) => File.Exists(Path.Combine(dir, file)) ? JsonNode.Parse(File.ReadAllText(Path.Combine(dir, file))) : null;
        return new JsonObject
        {
            ["qwen3"] = new JsonObject
            {
                ["dir"] = lmDir,
                ["pretraining"] = "Chinese scene sketches (the image-prompt layout with one code word per image token) followed by a question and its answer; compact vocabulary, exported to 151,936 rows",
                ["reading_accuracy"] = Read(lmDir, "reading_accuracy.json"),
            },
            ["smolvlm"] = new JsonObject
            {
                ["dir"] = vlmDir,
                ["pretraining"] = "vision tower on a dense task: for every image token, a linear head regresses onto the one-hot of its class (empty, or the shape×colour whose centre is in its cell)",
                ["seeing_accuracy"] = Read(vlmDir, "seeing_accuracy.json"),
            },
        };
    }

    private sealed record Example(VqaExample Vqa, ProcessedSample Sample);

    private List<Example> Load(Processor processor, CauldronReader reader)
    {
        var list = VqaExample.From(reader.ReadSubset("tinyworld_zh"))
            .Select(ex => new Example(ex, processor.Process(ex.Messages(withAnswer: true), new[] { ex.Image }, StitchLabels, templateVars: ChatTemplate.NoThinking)))
            .ToList();
        if (reader.BadRows.Total > 0) _log(reader.BadRows.ToString());
        return list;
    }

    private TinyRunResult TrainOne(string name, string vlmDir, string lmDir, bool brokenWiring, FreezePolicy policy,
                                   List<Example> train, List<Example> eval, Processor processor)
    {
        _log($"\n== {name}: {(brokenWiring ? "BROKEN wiring" : "correct wiring")}, {policy}");
        var text = new TextSide(processor.ImageTokenId, new[] { EosTokenId }, PadTokenId);
        manual_seed(_s.Seed);
        using var model = Stitcher.ReplaceTextModel(vlmDir, lmDir, text, brokenWiring);
        using (var samplePixels = _s.ConnectorInit == ConnectorInitKind.MatchEmbeddingNorm
                   ? Processor.PixelValues(train.Take(_s.MicroBatch).Select(e => e.Sample).ToList()) : null)
            Stitcher.NewConnector(model, _s.ConnectorInit, _s.Seed, samplePixels);
        if (policy == FreezePolicy.Lora) Lora.Apply(model, new LoraOptions { Rank = 8, Alpha = 16, Seed = _s.Seed });
        Freezing.Apply(model, policy);
        _log(Freezing.Summary(model));
        var table = Freezing.Table(model);
        var options = new TrainOptions
        {
            Steps = _s.Steps, GradAccum = 1, LearningRate = _s.LearningRate, Schedule = StitchSchedule, WarmupRatio = 0.03,
            EvalEvery = Math.Max(1, (int)(_s.Steps / 5)), EvalBatches = 2, SaveEvery = (int)_s.Steps, KeepLast = 1, ProgressLabel = name,
        };
        var trainer = new Trainer(model, options, Path.Combine(_out, name));
        double maxConnectorGrad = 0;
        trainer.Run(new SampleBatches(processor, train.Select(e => e.Sample).ToList(), _s.MicroBatch, _s.Seed), new SampleBatches(processor, eval.Select(e => e.Sample).ToList(), _s.MicroBatch, _s.Seed + 1),
            onStep: (_, row) => maxConnectorGrad = Math.Max(maxConnectorGrad, row.GetValueOrDefault("grad_norm_connector")));
        var generation = new GenerationOptions { MaxNewTokens = 40, EosTokenIds = new long[] { EosTokenId }, PadTokenId = PadTokenId };
        var evaluation = VqaEvaluation.Run(model, processor, eval.Select(e => e.Vqa).ToList(), new VqaEvalOptions { Generation = generation, EvalLoss = false, Progress = false });
        PredictionsFile.Write(Path.Combine(_out, name, "predictions.jsonl"), evaluation.Predictions);
        double acc = evaluation.Accuracy.Overall.Accuracy;
        if (policy == FreezePolicy.Lora) Lora.MergeAndUnload(model);   // saved as a plain HF folder
        string modelDir = Path.Combine(_out, name, "model");
        Stitcher.Save(model, modelDir);
        ModelFolder.SaveProcessor(processor, modelDir);
        _log($"{name}: accuracy {acc:P1}; connector grad norm max {maxConnectorGrad:G4}");
        return new TinyRunResult(name, acc, evaluation.Accuracy.PerType.ToDictionary(g => g.Type, g => g.Accuracy), maxConnectorGrad,
            trainer.Losses, table.Sum(r => r.trainable), table.Sum(r => r.total), evaluation.Predictions);
    }
}
