using SmVL.Pipelines;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl tiny --out DIR [--quick] [--steps N] [--lr X] [--micro-batch N] [--train-images N] [--layers N]
/// [--language-steps N] [--language-scenes N] [--language-layers N] [--language-hidden N] [--language-lr X] [--vision-steps N] [--vision-lr X] [--parent-images N] [--connector-init pytorch-default|normal-0.02|match-embedding-norm] [--seed S] [--no-full] [--parents-only]`: the embedded default. Generates TinyWorld,
/// builds HF-format parents, stitches, trains connector-only and the two broken-wiring ablations,
/// evaluates on held-out images, writes DIR/summary.json, DIR/&lt;run&gt;/metrics.jsonl, DIR/report.html.
/// </summary>
public sealed class TinyVerb : IVerb
{
    public string Name => "tiny";
    public string Summary => "run the whole stitching experiment in miniature (TinyWorld, CPU)";

    public Task<int> RunAsync(Args args)
    {
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
        if (args.Has("vision-lr")) settings = settings with { VisionLearningRate = args.Double("vision-lr", settings.VisionLearningRate) };
        if (args.Long("vision-steps") is { } vs) settings = settings with { VisionSteps = vs };
        string outDir = args.Get("out") ?? "out/tiny";
        if (args.Flag("parents-only"))
        {
            var (vlm, lm) = new TinyWorldRun(settings, outDir).Parents();
            Console.WriteLine($"parents: {vlm}\n         {lm}");
            return Task.FromResult(0);
        }
        var result = new TinyWorldRun(settings, outDir).Run(includeFull: !args.Flag("no-full"));
        Console.WriteLine($"\nsummary: {Path.Combine(outDir, "summary.json")}   report: {Path.Combine(outDir, "report.html")}");
        foreach (var r in result.Runs) Console.WriteLine($"  {r.Name,-14} accuracy {r.Accuracy:P1}   connector grad norm max {r.MaxConnectorGradNorm:G4}");
        Console.WriteLine($"  majority baseline {result.MajorityBaseline:P1}; {result.WallSeconds:F0} s");
        return Task.FromResult(0);
    }
}
