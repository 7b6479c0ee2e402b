using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;

namespace SmVL.Pipelines;

/// <summary>
/// The notebooks' default: tensors come from parity set A (a tiny SmolVLM around a Qwen3 text model,
/// checked against transformers), pictures from the TinyWorld rasteriser, and the trained runs
/// from the quick tiny-world experiment (<see cref="TinySettings.Quick"/>, all five runs), trained
/// once into the cache (.cache/tinyworld/notebooks-&lt;settings key&gt;; delete it to train again).
/// </summary>
public sealed class TinyNotebookWorld : NotebookWorld
{
    private static readonly TinySettings Settings = TinySettings.Quick;
    private static string SetA(string model) => Path.Combine(Paths.RepoRoot, "tests", "fixtures", "parity", "set-a", model);
    private static string RunsDir => Path.Combine(Paths.Cache, "tinyworld", $"notebooks-{Settings.Key}");
    private readonly TinyWorldRun _run = new(Settings, RunsDir);

    public override bool IsReal => false;
    public override string Description =>
        $"tiny world: parity set A for tensors, the quick tiny experiment for trained runs (set {RealCheckpointsVariable} to a folder with models/ and data/ to switch)";
    public override string VlmDir => SetA("smolvlm");
    public override string LmDir => SetA("qwen3");
    protected override Processor CreateProcessor() => _run.CreateProcessor();

    /// <summary>Set A's SmolVLM already wraps a Qwen3 text model (widths 64, image token 500).</summary>
    public override SmolVLMForConditionalGeneration LoadStitched() => Pretrained.LoadSmolVLM(VlmDir);

    public override IReadOnlyList<RgbImage> SampleImages(int count) =>
        new TinyWorldGenerator(seed: 3).Generate(count).Select(s => TinyWorldRasteriser.Render(s.Scene)).ToList();

    public override WiringRuns Runs()
    {
        string dir = RunsDir;
        if (!File.Exists(Path.Combine(dir, "summary.json"))) _run.Run(includeFull: true);
        else Console.WriteLine($"reusing the runs in {dir}");
        var (vlm, lm) = _run.Parents(Processor);   // cached by the run
        var eval = VqaExample.From(new CauldronReader(Path.Combine(dir, "data"), "eval").ReadSubset("tinyworld_zh")).ToList();
        return new WiringRuns(dir, ["stitched", "connector_head", "lora", "broken_frozen", "broken_full"], vlm, lm, Processor,
            new TextSide(Processor.ImageTokenId, [TinyWorldRun.EosTokenId], TinyWorldRun.PadTokenId),
            new GenerationOptions { MaxNewTokens = 40, EosTokenIds = [TinyWorldRun.EosTokenId], PadTokenId = TinyWorldRun.PadTokenId },
            eval, $"quick tiny settings: {Settings.Steps} steps, micro-batch {Settings.MicroBatch}, peak lr {Settings.LearningRate}, {Settings.TrainImages} training images");
    }
}
