using System.CommandLine;
using SmVL.TinyWorld;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl tiny --out DIR [--quick] [--steps N] [--lr X] [--micro-batch N] [--train-images N] [--layers N]
/// [--language-steps N] [--language-scenes N] [--language-layers N] [--language-hidden N] [--language-lr X] [--language-word-noise X] [--vision-steps N] [--vision-lr X] [--parent-images N] [--connector-init pytorch-default|normal-0.02|match-embedding-norm] [--seed S] [--cores N] [--no-full] [--parents-only]`: the embedded default. Generates TinyWorld,
/// builds HF-format parents, stitches, trains connector-only and the two broken-wiring ablations,
/// evaluates on held-out images, writes DIR/summary.json, DIR/&lt;run&gt;/metrics.jsonl, DIR/report.html.
/// </summary>
public sealed class TinyVerb : IVerb
{
    public string Name => "tiny";
    public string Summary => "run the whole stitching experiment in miniature (TinyWorld, CPU)";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("out", "output folder (default out/tiny): summary.json, report.html, one folder per run"),
        Opt.Flag("quick", "the same stages, small (~3 minutes)"),
        Opt.Flag("no-full", "only the connector-only run and the frozen broken-wiring run"),
        Opt.Flag("parents-only", "build (or find cached) the two parents and stop"),
        Opt.Long("steps", "stitch training steps", min: 1),
        Opt.Long("seed", "seed of the data, the parents and the stitch"),
        Opt.Int("cores", "libtorch threads for the whole run (default: this machine's); the vision parent always trains on one, so the results are the same on 1, 2 and 4", min: 1),
        Opt.Number("lr", "stitch peak learning rate", above: 0),
        Opt.Int("micro-batch", "stitch micro-batch", min: 1),
        Opt.Int("train-images", "training images", min: 1),
        Opt.Int("layers", "vision parent layers", min: 1),
        Opt.Long("language-steps", "Qwen3 parent pretraining steps", min: 1),
        Opt.Int("language-scenes", "Qwen3 parent pretraining scenes (default: one per sequence its steps read, language steps × 32)", min: 1),
        Opt.Int("language-layers", "Qwen3 parent layers", min: 1),
        Opt.Int("language-hidden", "Qwen3 parent hidden size", min: 1),
        Opt.Number("language-lr", "Qwen3 parent peak learning rate", above: 0),
        Opt.Number("language-word-noise", "noise on the code words while the Qwen3 parent pretrains, relative to their RMS: the mean of a strength drawn per sequence from 0 to twice this (0: none)", min: 0),
        Opt.Long("vision-steps", "vision parent pretraining steps", min: 1),
        Opt.Number("vision-lr", "vision parent peak learning rate", above: 0),
        Opt.Int("parent-images", "vision parent pretraining images", min: 1),
        Opt.Text("connector-init", "connector initialisation", oneOf: ["pytorch-default", "normal-0.02", "match-embedding-norm"]),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        // Before the settings are made: they take the core count the parents' schedule plans for.
        if (args.Has("cores")) TorchSharp.torch.set_num_threads(args.Int("cores", 1));
        var settings = args.Flag("quick") ? TinySettings.Quick : new TinySettings();
        if (args.Long("steps") is { } steps) settings = settings with { Steps = steps };
        if (args.Long("seed") is { } seed) settings = settings with { Seed = seed };
        if (args.Has("lr")) settings = settings with { LearningRate = args.Double("lr", settings.LearningRate) };
        if (args.Has("micro-batch")) settings = settings with { MicroBatch = args.Int("micro-batch", settings.MicroBatch) };
        if (args.Has("train-images")) settings = settings with { TrainImages = args.Int("train-images", settings.TrainImages) };
        if (args.Has("layers")) settings = settings with { Layers = args.Int("layers", settings.Layers) };
        if (args.Long("language-steps") is { } ls) settings = settings with { LanguageSteps = ls };
        if (args.Get("connector-init") is { } init) settings = settings with { ConnectorInit = SmVL.Stitching.ConnectorInit.Parse(init) };
        if (args.Has("parent-images")) settings = settings with { ParentImages = args.Int("parent-images", settings.ParentImages) };
        if (args.Has("language-scenes")) settings = settings with { LanguageScenes = args.Int("language-scenes", settings.LanguageScenes) };
        if (args.Has("language-layers")) settings = settings with { LanguageLayers = args.Int("language-layers", settings.LanguageLayers) };
        if (args.Has("language-hidden")) settings = settings with { LanguageHidden = args.Int("language-hidden", settings.LanguageHidden) };
        if (args.Has("language-lr")) settings = settings with { LanguageLearningRate = args.Double("language-lr", settings.LanguageLearningRate) };
        if (args.Has("language-word-noise")) settings = settings with { LanguageWordNoise = args.Double("language-word-noise", settings.LanguageWordNoise) };
        if (args.Has("vision-lr")) settings = settings with { VisionLearningRate = args.Double("vision-lr", settings.VisionLearningRate) };
        if (args.Long("vision-steps") is { } vs) settings = settings with { VisionSteps = vs };
        string outDir = args.Get("out") ?? "out/tiny";
        try { return Task.FromResult(Run(settings, outDir, args, cancel)); }
        catch (OperationCanceledException e) when (cancel.IsCancellationRequested)
        {
            // Finished parents stay cached; a stitch run starts over (they take minutes), so there is nothing to --resume.
            throw new OperationCanceledException("stopped; parents already built stay cached: run the same command again to go on", e, cancel);
        }
    }

    private static int Run(TinySettings settings, string outDir, Args args, CancellationToken cancel)
    {
        if (args.Flag("parents-only"))
        {
            var parents = new TinyWorldRun(settings, outDir) { Cancel = cancel }.Parents();
            Console.WriteLine($"parents: {parents.VlmDir}\n         {parents.LmDir}");
            return 0;
        }
        var result = new TinyWorldRun(settings, outDir) { Cancel = cancel }.Run(includeFull: !args.Flag("no-full"));
        Console.WriteLine($"\nsummary: {Path.Combine(outDir, "summary.json")}   report: {Path.Combine(outDir, "report.html")}");
        foreach (var r in result.Runs) Console.WriteLine($"  {r.Name,-14} accuracy {r.Accuracy:P1}   connector grad norm max {r.MaxConnectorGradNorm:G4}");
        Console.WriteLine($"  majority baseline {result.MajorityBaseline:P1}; {result.WallSeconds:F0} s");
        return 0;
    }
}
