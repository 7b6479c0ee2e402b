using TorchSharp;
using SmVL.Stitching;
using SmVL.Training;

namespace SmVL.TinyWorld;

/// <summary>Sizes and steps of the embedded default ("tiny world").</summary>
public sealed record TinySettings
{
    public int TrainImages { get; init; } = 4000;
    /// <summary>Held-out questions: 500, so an accuracy near 0.85 has a sampling standard error of 1.6 points (2.5 at 200).</summary>
    public int EvalImages { get; init; } = 500;
    /// <summary>Stitch steps per run (docs/tinyworld.md has what other counts gave).</summary>
    public long Steps { get; init; } = 500;
    public int MicroBatch { get; init; } = 16;
    /// <summary>Stitch peak learning rate (docs/tinyworld.md: the rates tried).</summary>
    public double LearningRate { get; init; } = 1e-2;
    /// <summary>Stitch warmup, a fraction of the steps: the blog's full run warms up over 10 % (docs/tinyworld.md: what 3 % and 20 % gave).</summary>
    public double WarmupRatio { get; init; } = 0.1;
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
    /// <summary>
    /// Scenes the Qwen3 parent reads (one question each); unless set, as many as its steps read
    /// (<see cref="LanguageSteps"/> × <see cref="ParentBatch"/>), so it reads every scene once: scenes seen
    /// several times are partly memorised (docs/tinyworld.md).
    /// </summary>
    public int LanguageScenes { get => _languageScenes ?? checked((int)(LanguageSteps * ParentBatch)); init => _languageScenes = value; }
    private readonly int? _languageScenes;
    /// <summary>Qwen3 parent pretraining steps (docs/tinyworld.md: the steps and rates tried, and what each stitched to).</summary>
    public long LanguageSteps { get; init; } = 7000;
    public double LanguageLearningRate { get; init; } = 1e-2;
    /// <summary>
    /// Each Qwen3 parent step's batch of <see cref="ParentBatch"/> in this many micro-batches, which run
    /// side by side once the parent has more than one core (<see cref="ParallelMicroBatches"/>).
    /// </summary>
    public int LanguageMicroBatches { get; init; } = 2;
    /// <summary>
    /// Noise on the code words' embeddings while the Qwen3 parent pretrains, relative to each embedding's RMS
    /// (0: none): the mean of a strength drawn per sequence from 0 to twice this. The parent learns to read
    /// words that are only near their embeddings, as connector outputs are.
    /// </summary>
    public double LanguageWordNoise { get; init; } = 0.5;
    /// <summary>Vision parent pretraining (the dense cell task; docs/tinyworld.md: steps tried).</summary>
    public long VisionSteps { get; init; } = 8000;
    /// <summary>
    /// Each parent trains on half the cores; the Qwen3 parent takes every core from this step on, once
    /// the tower has finished (it waits for it there): a fixed step, not "when the tower is done", so the
    /// schedule never depends on timing.
    /// </summary>
    public long LanguageAllCoresFrom { get; init; } = 3500;
    public double VisionLearningRate { get; init; } = 3e-3;
    public int ParentBatch { get; init; } = 32;

    /// <summary>
    /// The tiny world behind an experiment file's "tiny" parents: the defaults with the file's data seed, so
    /// `train --experiment` on a main-job run of `tiny --seed S` stitches the same parents.
    /// </summary>
    public static TinySettings ForExperiment(Experiment experiment) => new() { Seed = experiment.Data.Seed };

    /// <summary>Same stages, small.</summary>
    public static TinySettings Quick => new()
    {
        TrainImages = 1000, EvalImages = 100, Steps = 120, MicroBatch = 16, WarmupRatio = 0.03, LanguageWordNoise = 0, ParentImages = 3000, LanguageScenes = 16000, LanguageSteps = 800, LanguageAllCoresFrom = 800, LanguageLearningRate = 3e-3,
        VisionSteps = 2000, VisionLearningRate = 1e-2, ParentBatch = 32,
    };

    /// <summary>What each cached parent depends on (the version part changes when the recipe does).
    /// Neither depends on the core count: the reader's micro-batches and the tower each run on one libtorch thread.</summary>
    public string LanguageParentKey => $"v7-h{LanguageHidden}-l{LanguageLayers}-r{RopeTheta}-p{PatchSize}-n{LanguageScenes}-ls{LanguageSteps}-lr{LanguageLearningRate}-b{ParentBatch}x{LanguageMicroBatches}{(LanguageWordNoise > 0 ? $"-wnu{LanguageWordNoise}" : "")}-s{Seed}";
    public string VisionParentKey => $"v6-h{Hidden}-l{Layers}-p{PatchSize}-n{ParentImages}-vs{VisionSteps}-lr{VisionLearningRate}-b{ParentBatch}-s{Seed}";

    /// <summary>The cores the parents share: libtorch's thread count when the run starts.</summary>
    public int Cores { get; init; } = torch.get_num_threads();

    /// <summary>All settings in one short key, for caching a whole run's outputs.</summary>
    public string Key => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
        $"{LanguageParentKey}|{VisionParentKey}|{TrainImages}|{EvalImages}|{Steps}|{MicroBatch}|{LearningRate:R}|{WarmupRatio:R}|{ConnectorInit}")))[..12].ToLowerInvariant();
}
