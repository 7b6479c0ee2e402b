using SmVL.TinyWorld;
using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Plots;
using SmVL.Processing;
using SmVL.Stitching;
using SmVL.Training;

namespace SmVL.Interactive;

/// <summary>
/// The notebooks on the real checkpoints: a root laid out as data/README.md says
/// (models/SmolVLM2-256M-Video-Instruct, models/Qwen3-0.6B, data/the_cauldron/&lt;subset&gt;/*.parquet).
/// The processor is the one the real runs use (<see cref="StitchParents.Qwen3SmVL"/>).
/// The trained runs are the cocoqa-200 pilot (experiments/cocoqa-200.json, through
/// <see cref="ExperimentRunner"/>) cut to <see cref="Steps"/> optimizer steps of one sample each —
/// correct wiring, broken wiring frozen, broken wiring fully fine-tuned — on the cocoqa subset
/// (or, without it, the first subset found), each scored on <see cref="EvalExamples"/> held-out
/// questions. They are written once to ROOT/runs/notebooks-&lt;steps, eval, subset&gt; and reused.
/// </summary>
public sealed class RealNotebookWorld : NotebookWorld
{
    /// <summary>Optimizer steps per run (default 10: about 5–10 CPU-minutes per run at real size with 13-crop images).</summary>
    public const string StepsVariable = "SMVL_NOTEBOOK_STEPS";
    /// <summary>Held-out questions each run is scored on (default 16).</summary>
    public const string EvalVariable = "SMVL_NOTEBOOK_EVAL";
    /// <summary>Longest generated answer (default 16: Cauldron answers are a word or a short phrase).</summary>
    public const string MaxNewTokensVariable = "SMVL_NOTEBOOK_MAX_NEW_TOKENS";
    private static readonly (string Name, bool Broken, string Policy)[] Wiring =
        [("stitched", false, "connector"), ("broken_frozen", true, "connector"), ("broken_full", true, "full")];

    public string Root { get; }
    public long Steps { get; }
    public int EvalExamples { get; }
    public int MaxNewTokens { get; }
    public string CauldronDir { get; }
    /// <summary>The Cauldron subset the runs train and evaluate on.</summary>
    public string Subset { get; }

    public RealNotebookWorld(string root, long steps = 10, int evalExamples = 16, int maxNewTokens = 16)
    {
        Root = Path.GetFullPath(root);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(evalExamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNewTokens, 1);
        Steps = steps; EvalExamples = evalExamples; MaxNewTokens = maxNewTokens;
        foreach (var dir in new[] { VlmDir, LmDir })
            if (!File.Exists(Path.Combine(dir, "config.json")))
                throw new FileNotFoundException($"{RealCheckpointsVariable}={root}: {dir}/config.json not found (download the checkpoints as data/README.md says)");
        CauldronDir = Path.Combine(Root, "data", "the_cauldron");
        var subsets = new CauldronReader(CauldronDir, "train").Subsets();
        if (subsets.Count == 0)
            throw new DirectoryNotFoundException($"{RealCheckpointsVariable}={root}: no Cauldron subset with parquet files under {CauldronDir} (data/README.md: recipe cocoqa)");
        Subset = subsets.Contains("cocoqa") ? "cocoqa" : subsets[0];
    }

    /// <summary>The root from the switch, the sizes from <see cref="StepsVariable"/>, <see cref="EvalVariable"/> and <see cref="MaxNewTokensVariable"/>.</summary>
    public static RealNotebookWorld FromEnvironment(string root) =>
        new(root, Setting(StepsVariable, 10), (int)Setting(EvalVariable, 16), (int)Setting(MaxNewTokensVariable, 16));

    private static long Setting(string name, long fallback) =>
        Environment.GetEnvironmentVariable(name) is not { Length: > 0 } text ? fallback
        : long.TryParse(text, out long v) && v > 0 ? v
        : throw new ArgumentException($"{name}={text}: expected a positive whole number");

    public override bool IsReal => true;
    public override string Description =>
        $"real checkpoints from {Root}: runs of {Steps} steps on the Cauldron subset '{Subset}', {EvalExamples} held-out questions, answers up to {MaxNewTokens} tokens ({StepsVariable}, {EvalVariable}, {MaxNewTokensVariable})";
    public override string VlmDir => Path.Combine(Root, "models", "SmolVLM2-256M-Video-Instruct");
    public override string LmDir => Path.Combine(Root, "models", "Qwen3-0.6B");
    private StitchParents? _parents;
    private StitchParents Parents => _parents ??= StitchParents.Qwen3SmVL(VlmDir, LmDir);
    protected override Processor CreateProcessor() => Parents.Processor;
    private TextSide Text => Parents.Text;

    /// <summary>SmolVLM2's vision tower + Qwen3-0.6B, with the fresh 12288 → 1024 connector (PyTorch's default init).</summary>
    public override SmolVLMForConditionalGeneration LoadStitched() =>
        Stitcher.Stitch(VlmDir, LmDir, Processor, Text, new StitchOptions(ConnectorInitKind.PyTorchDefault, Seed: 42));

    public override IReadOnlyList<RgbImage> SampleImages(int count) =>
        EvalSet().Select(e => e.Image).Distinct().Take(count).ToList();

    private List<VqaExample>? _eval;
    /// <summary>The pilot's held-out rows (the recipe's first rows of the shuffle), one question per turn.</summary>
    private List<VqaExample> EvalSet() => _eval ??= VqaExample.From(
        ExperimentRunner.Recipe(Pilot("eval", false, "connector")).Select(new CauldronReader(CauldronDir, "train")).Eval()).Take(EvalExamples).ToList();

    private string RunsDir => Path.Combine(Root, "runs", $"notebooks-{Subset}-s{Steps}-e{EvalExamples}-t{MaxNewTokens}");

    private GenerationOptions Generation => new() { MaxNewTokens = MaxNewTokens, EosTokenIds = Text.EosTokenIds.Select(i => (long)i).ToArray(), PadTokenId = Processor.PadTokenId };

    public override WiringRuns Runs()
    {
        string dir = RunsDir;
        if (!File.Exists(Path.Combine(dir, "summary.json"))) Train(dir);
        else Console.WriteLine($"reusing the runs in {dir}");
        var pilot = Pilot("stitched", false, "connector");
        return new WiringRuns(dir, Wiring.Select(w => w.Name).ToList(), VlmDir, LmDir, Processor, Text, Generation, EvalSet(),
            $"cocoqa-200 pilot cut to {Steps} steps of one sample (lr {pilot.Train.LearningRate}) on '{Subset}'",
            pilot.Train.Schedule, pilot.Labels);
    }

    /// <summary>experiments/cocoqa-200.json pointed at this root and cut to this world's size.</summary>
    private Experiment Pilot(string name, bool brokenWiring, string policy)
    {
        var e = Experiment.Load(Path.Combine(Paths.RepoRoot, "experiments", "cocoqa-200.json"));
        return e with
        {
            Name = name,
            Description = $"{e.Name} cut to {Steps} steps for the notebooks",
            Parents = new ParentsSpec { Vlm = VlmDir, Lm = LmDir },
            Data = e.Data with { Root = CauldronDir, Subsets = [Subset], EvalSize = EvalExamples },
            Stitch = e.Stitch with { BrokenWiring = brokenWiring },
            Freeze = new FreezeSpec { Policy = policy },
            // One sample per step (the file accumulates 32), two held-out loss points per run, no checkpoints (a full fine-tune's would be ~7 GB).
            Train = e.Train with { Steps = Steps, GradAccum = 1, WarmupSteps = Steps / 10, EvalEvery = (int)Math.Max(1, Steps / 2), SaveEvery = 0 },
        };
    }

    private void Train(string dir)
    {
        var clock = Stopwatch.StartNew();
        var eval = EvalSet();
        var runs = new List<TinyRunResult>();
        VqaReport? scores = null;
        foreach (var (name, broken, policy) in Wiring)
        {
            using (var runner = new ExperimentRunner(Pilot(name, broken, policy), Path.Combine(dir, name), new ExperimentRunOptions { Tensorboard = false }))
            {
                var run = runner.Run();
                var evaluation = VqaEvaluation.Run(runner.Model!, Processor, eval, new VqaEvalOptions { Generation = Generation, EvalLoss = false });
                PredictionsFile.Write(Path.Combine(run.RunDir, "predictions.jsonl"), evaluation.Predictions);
                double maxConnector = MetricsLog.Read(run.RunDir).Max(r => r["grad_norm_connector"]?.GetValue<double>() ?? 0);
                runs.Add(new TinyRunResult(name, evaluation.Accuracy.Overall.Accuracy, evaluation.Accuracy.PerType.ToDictionary(g => g.Type, g => g.Accuracy),
                    maxConnector, run.Losses, run.Trainable, run.Total, evaluation.Predictions));
                scores = evaluation.Accuracy;
            }
            // The finished run's tensors are native memory the GC cannot see, and glibc keeps freed blocks resident: hand both
            // back before the next full-size model loads, or the kernel's peak is the runs' sum.
            NativeAllocator.Release();
        }
        var gallery = eval.Take(12).Select((e, i) => new GalleryEntry(ImageCodec.EncodePng(e.Image), e.Question, e.Answer,
            runs.Select(r => (r.Name, r.Predictions[i].Prediction)).ToList())).ToList();
        new TinyWorldResult(runs, scores!.Overall.MajorityBaseline, scores.PerType.ToDictionary(g => g.Type, g => g.MajorityBaseline),
            clock.Elapsed.TotalSeconds, Steps, gallery).Write(dir);
    }
}
