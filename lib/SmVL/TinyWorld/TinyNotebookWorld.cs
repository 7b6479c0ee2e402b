using SmVL.Training;
using SmVL.Data;
using SmVL.Interactive;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;

namespace SmVL.TinyWorld;

/// <summary>
/// The notebooks' default: tensors come from parity set A (a tiny SmolVLM around a Qwen3 text model,
/// checked against transformers), pictures from the TinyWorld rasteriser. The trained runs are the
/// main job's (<c>smvl tiny --out out/tiny</c>, the README's command) when it has run and its stitched
/// model sees (connector-only held-out accuracy ≥ <see cref="SeeingAccuracy"/>). Otherwise a printed
/// note says the stitched model barely sees, and the runs are the main job's all the same when it has
/// run (with --quick, say), else the quick tiny-world experiment (<see cref="TinySettings.Quick"/>, all
/// five runs), trained once into the cache (.cache/tinyworld/notebooks-&lt;settings key&gt;; delete it
/// to train again).
/// </summary>
public sealed class TinyNotebookWorld : NotebookWorld
{
    private static readonly TinySettings Settings = TinySettings.Quick;
    private static string SetA(string model) => Path.Combine(Paths.RepoRoot, "tests", "fixtures", "parity", "set-a", model);
    private static string RunsDir => Path.Combine(Paths.Cache, "tinyworld", $"notebooks-{Settings.Key}");
    private readonly TinyWorldRun _run = new(Settings, RunsDir);
    /// <summary>How the runs trained (schedule, label policy): the main job's connector-only experiment.</summary>
    private static Experiment Stitched => TinyWorldRun.Experiments(Settings)[0].Experiment;

    /// <summary>Connector-only held-out accuracy from which a run counts as a model that sees (README: what the main job and the quick run reach).</summary>
    public const double SeeingAccuracy = 0.8;
    /// <summary>Where the README's main job writes its runs.</summary>
    public static string MainJobDir => Path.Combine(Paths.RepoRoot, "out", "tiny");
    private static readonly string[] RunNames = ["stitched", "connector_head", "lora", "broken_frozen", "broken_full"];

    public override bool IsReal => false;
    public override string Description =>
        $"tiny world: parity set A for tensors, the main job's runs (out/tiny) or else the quick tiny experiment for trained runs (set {RealCheckpointsVariable} to a folder with models/ and data/ to switch)";
    public override string VlmDir => SetA("smolvlm");
    public override string LmDir => SetA("qwen3");
    protected override Processor CreateProcessor() => TinyParents.CreateProcessor();

    /// <summary>Set A's SmolVLM already wraps a Qwen3 text model (widths 64, image token 500).</summary>
    public override SmolVLMForConditionalGeneration LoadStitched() => Pretrained.LoadSmolVLM(VlmDir);

    public override IReadOnlyList<RgbImage> SampleImages(int count) =>
        new TinyWorldGenerator(seed: 3).Generate(count).Select(s => TinyWorldRasteriser.Render(s.Scene)).ToList();

    public override WiringRuns Runs()
    {
        var main = MainJobRuns();
        if (main is { Sees: true }) return main.Value.Runs;
        Console.WriteLine($"note: no main-job runs that see in {MainJobDir} (connector-only ≥ {SeeingAccuracy:P0}; `smvl tiny --out out/tiny` trains them, " +
                          "about 15 minutes): these stitched models barely beat the majority baseline. " +
                          "The wiring lesson holds; the accuracy numbers are not what a trained stitch reaches.");
        if (main is { } weak) return weak.Runs;   // e.g. the main job run with --quick: the same runs as below
        string dir = RunsDir;
        if (!File.Exists(Path.Combine(dir, "summary.json")))
        {
            // Training in the kernel: serve the logits' large blocks from the heap, as the CLI does (NativeAllocator's summary has why).
            NativeAllocator.Enable();
            _run.Run(includeFull: true);
        }
        else Console.WriteLine($"reusing the runs in {dir}");
        var parents = _run.Parents();   // cached by the run
        return Wiring(dir, RunNames, parents.VlmDir, parents.LmDir,
            $"quick tiny settings: {Settings.Steps} steps, micro-batch {Settings.MicroBatch}, peak lr {Settings.LearningRate}, {Settings.TrainImages} training images");
    }

    /// <summary>
    /// The main job's runs when they are on disk (summary.json, the three wirings' saved models, the parents
    /// it names), and whether its stitched model sees.
    /// </summary>
    private (WiringRuns Runs, bool Sees)? MainJobRuns()
    {
        string dir = MainJobDir, summaryFile = Path.Combine(dir, "summary.json");
        if (!File.Exists(summaryFile)) return null;
        var summary = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(summaryFile))!;
        double? stitched = summary["accuracy"]?["stitched"]?.GetValue<double>();
        string? vlm = summary["parents"]?["smolvlm"]?["dir"]?.GetValue<string>(), lm = summary["parents"]?["qwen3"]?["dir"]?.GetValue<string>();
        var names = RunNames.Where(n => File.Exists(Path.Combine(dir, n, "model", "config.json"))).ToList();
        if (stitched is null || vlm is null || lm is null || !Directory.Exists(vlm) || !Directory.Exists(lm)
            || !new[] { "stitched", "broken_frozen", "broken_full" }.All(names.Contains)) return null;
        Console.WriteLine($"the main job's runs in {dir}: connector-only {stitched:P1} held-out");
        return (Wiring(dir, names, vlm, lm, $"the main job's tiny settings: {summary["steps"]} steps per run (out/tiny/summary.json)"),
                stitched >= SeeingAccuracy);
    }

    private WiringRuns Wiring(string dir, IReadOnlyList<string> names, string vlm, string lm, string settings)
    {
        var eval = VqaExample.From(new CauldronReader(Path.Combine(dir, "data"), "eval").ReadSubset("tinyworld_zh")).ToList();
        var text = TextSide.From(Processor, TinyParents.EosTokenId);
        return new WiringRuns(dir, names, vlm, lm, Processor, text, TinyWorldRun.Generation(Processor, text),
            eval, settings, Schedule: Stitched.Train.Schedule, LabelPolicy: Stitched.Labels);
    }
}
