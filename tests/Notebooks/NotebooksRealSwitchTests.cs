using SmVL.Interactive;
using System.Diagnostics;
using System.Text.Json.Nodes;
using SmVL.Experiments.Notebooks;
using SmVL.TinyWorld;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Notebooks;

/// <summary>
/// The switch to the real checkpoints: full-size random-weight SmolVLM2-256M and Qwen3-0.6B folders
/// (with Qwen3's tokenizer files) and a six-row Cauldron cocoqa subset in a temp dir laid out as
/// data/README.md says, SMVL_REAL_CHECKPOINTS pointed at it, and every notebook executed in the
/// .NET Interactive kernel (<see cref="KernelRunner"/>, the settings passed to its process):
/// no cell fails, each draws its chart, and the outputs show the real sizes. The trained runs are
/// 2 steps each, scored on 1 held-out question with answers of at most 4 tokens (SMVL_NOTEBOOK_STEPS,
/// SMVL_NOTEBOOK_EVAL, SMVL_NOTEBOOK_MAX_NEW_TOKENS); images are
/// one 512-px tile (the folder's preprocessor_config). ~3.4 GB of checkpoints plus ~8.4 GB of saved
/// runs on disk; the suite's largest resident set is 05's kernel process (the broken_full run's step: weights,
/// gradients and AdamW state of the whole model; notebooks/README.md has the measured peak); each notebook's
/// kernel exits before the next starts.
/// In the DefaultDevice collection so no other notebook test runs while the switch is set.
/// </summary>
[Trait("Category", "Slow")]
[Collection("DefaultDevice")]
public sealed class NotebooksRealSwitchTests(ITestOutputHelper output)
{
    private static readonly string[] Settings = [NotebookWorld.RealCheckpointsVariable, RealNotebookWorld.StepsVariable, RealNotebookWorld.EvalVariable, RealNotebookWorld.MaxNewTokensVariable];

    /// <summary>Text in each notebook's outputs that only the real-size world produces.</summary>
    private static readonly Dictionary<string, string[]> RealShows = new()
    {
        ["00-setup.ipynb"] = ["real checkpoints from", "Qwen3-0.6B/tokenizer.json"],
        ["01-anatomy.ipynb"] = ["Linear(12288 → 576)", "image token 49190"],
        ["04-connector-init.ipynb"] = ["1024 × 12288", "SmolVLM2-256M-Video-Instruct: vector norms"],
        ["05-broken-wiring.ipynb"] = ["49190 ", "connector grad norm = 0 at all 2 steps", "Training loss: correct wiring vs broken wiring"],
        ["06-training.ipynb"] = ["cocoqa-200 pilot cut to 2 steps", "Gradient norm per module"],
        ["07-inference.ipynb"] = ["832 image tokens", "Held-out accuracy by question type"],
    };

    [Fact]
    public async Task Every_notebook_runs_on_full_size_random_checkpoints()
    {
        NativeAllocator.Release();   // start from what is live, not from what earlier tests left on the heap: 05's kernel needs most of the machine
        string root = Fixtures.TempDir();
        var saved = Settings.ToDictionary(s => s, Environment.GetEnvironmentVariable);
        try
        {
            var clock = Stopwatch.StartNew();
            FullSizeCheckpoints.WriteSmolVLM2(Path.Combine(root, "models", "SmolVLM2-256M-Video-Instruct"));
            FullSizeCheckpoints.WriteQwen3(Path.Combine(root, "models", "Qwen3-0.6B"), withTokenizer: true);
            FullSizeCheckpoints.WriteCauldronSubset(Path.Combine(root, "data", "the_cauldron"), "cocoqa", trainRows: 6, seed: 3);
            output.WriteLine($"random full-size checkpoints and data written in {clock.Elapsed.TotalSeconds:F0} s");
            NativeAllocator.Release();   // the writers' freed weights stay resident otherwise (the test host serves large blocks from its heap)
            output.WriteLine($"test host beside the kernels: {SmVL.Benchmarks.MemoryProbe.CurrentBytes / 1e9:F2} GB resident, {GC.GetGCMemoryInfo().HeapSizeBytes / 1e9:F2} GB of it managed");

            var settings = new Dictionary<string, string?>
            {
                [NotebookWorld.RealCheckpointsVariable] = root,
                [RealNotebookWorld.StepsVariable] = "2",
                [RealNotebookWorld.EvalVariable] = "1",
                [RealNotebookWorld.MaxNewTokensVariable] = "4",
            };
            foreach (var (key, value) in settings) Environment.SetEnvironmentVariable(key, value);
            var world = Assert.IsType<RealNotebookWorld>(NotebookWorld.FromEnvironment());
            Assert.Equal("cocoqa", world.Subset);

            string dir = Path.Combine(Paths.RepoRoot, "notebooks");
            var names = Directory.GetFiles(dir, "*.ipynb").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(8, names.Count);
            foreach (var name in names)
            {
                var started = clock.Elapsed;
                var result = await KernelRunner.RunAsync(Path.Combine(dir, name!), Path.Combine(root, "executed"), settings, TimeSpan.FromMinutes(45));
                Assert.True(result.Success, result.Summary + "\n" + result.Log);
                Assert.True(result.Charts > 0, $"{name}: no Plotly chart");
                string shown = ExecutedNotebook.Load(result.OutputNotebook).ShownText();
                foreach (var text in RealShows.GetValueOrDefault(name!, []))
                    Assert.True(shown.Contains(text), $"{name}: its outputs never show \"{text}\"");
                output.WriteLine($"{name}: {(clock.Elapsed - started).TotalSeconds:F0} s");
            }
            output.WriteLine($"all notebooks on full-size checkpoints: {clock.Elapsed.TotalSeconds:F0} s");

            // The runs 05 trained and 06/07 read: the three wirings, two steps each, saved as HF folders.
            string runs = Directory.GetDirectories(Path.Combine(root, "runs")).Single();
            foreach (var run in new[] { "stitched", "broken_frozen", "broken_full" })
            {
                Assert.Equal(2, MetricsLog.Read(Path.Combine(runs, run)).Count);
                Assert.True(File.Exists(Path.Combine(runs, run, "model", "config.json")), $"{run}: no saved model");
                Assert.Single(File.ReadAllLines(Path.Combine(runs, run, "predictions.jsonl")));
            }
            var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(runs, "summary.json")))!;
            Assert.Equal(695_065_856, summary["total_params"]!.GetValue<long>());
            Assert.Equal(0.0, summary["connector_grad_norm_max_broken_frozen"]!.GetValue<double>());
            Assert.True(summary["connector_grad_norm_max_stitched"]!.GetValue<double>() > 0);
        }
        finally
        {
            foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
            Directory.Delete(root, true);
            NativeAllocator.Release();
        }
    }
}
