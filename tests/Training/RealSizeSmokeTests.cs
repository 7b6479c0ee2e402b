using SmVL.TinyWorld;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>
/// The real run's path at real size without the real weights: SmolVLM2-256M- and Qwen3-0.6B-shaped
/// HF folders with random weights (HF's normal(0, 0.02) init) in a temp dir, the cocoqa-200
/// experiment file pointed at them and at a tiny Cauldron-format cocoqa subset, one optimizer step
/// on CPU (grad_accum 1; images kept to one 512×512 tile, ~100 tokens). ~3.4 GB on disk, ~3 GB of RAM.
/// </summary>
[Trait("Category", "Slow")]
public class RealSizeSmokeTests(ITestOutputHelper log)
{
    [Fact]
    public void TheCocoqaPilotTakesAConnectorOnlyStepOnFullSizeCheckpoints()
    {
        string root = Fixtures.TempDir();
        try
        {
            string vlm = Path.Combine(root, "SmolVLM2-256M-Video-Instruct"), lm = Path.Combine(root, "Qwen3-0.6B"), data = Path.Combine(root, "the_cauldron");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            FullSizeCheckpoints.WriteSmolVLM2(vlm);
            FullSizeCheckpoints.WriteQwen3(lm);
            FullSizeCheckpoints.WriteCauldronSubset(data, "cocoqa", trainRows: 6, seed: 3);
            log.WriteLine($"random full-size parents and data written in {clock.Elapsed.TotalSeconds:F0}s");

            var e = Experiment.Load(Path.Combine(Paths.RepoRoot, "experiments", "cocoqa-200.json"));
            e = e with
            {
                Parents = new ParentsSpec { Vlm = vlm, Lm = lm },
                Data = e.Data with { EvalSize = 2 },
                Train = e.Train with { GradAccum = 1, EvalEvery = 0 },
            };
            string run = Path.Combine(root, "run");
            using var runner = new ExperimentRunner(e, run, new ExperimentRunOptions
            {
                MaxSteps = 1, DataDir = data, Progress = false, Tensorboard = false, Log = log.WriteLine,
            });
            var result = runner.Run();
            log.WriteLine($"stitch + one step in {clock.Elapsed.TotalSeconds:F0}s");

            Assert.Equal(1, result.Step);
            Assert.False(result.Finished);
            // The blog's table: only the connector trains, 12,582,912 of 695,065,856.
            Assert.Equal(12_582_912, result.Trainable);
            Assert.Equal(695_065_856, result.Total);
            var model = runner.Model!;
            Assert.True(Stitcher.WiringIsIntact(model, 151655));
            Assert.Equal(151655, model.model.MergerImageTokenId);

            var row = MetricsLog.Read(run).Single();
            double loss = row["loss"]!.GetValue<double>();
            log.WriteLine($"loss {loss:F4} (ln vocab {Math.Log(151936):F4}), connector grad norm {row["grad_norm_connector"]}, tokens {row["tokens"]}");
            // Random normal(0, 0.02) weights: near-uniform predictions over the 151,936-token vocabulary.
            Assert.InRange(loss, Math.Log(151936) - 1, Math.Log(151936) + 1);
            Assert.True(row["grad_norm_connector"]!.GetValue<double>() > 0);
            Assert.Equal(new[] { "grad_norm_connector" }, row.Select(kv => kv.Key).Where(k => k.StartsWith("grad_norm_")));
            Assert.All(model.named_parameters().Where(p => !p.parameter.requires_grad), p => Assert.Null(p.parameter.grad));
            Assert.Equal(1, runner.Trainer!.OptimizerStateCount);
            Assert.Equal(new[] { "step_000001" }, TrainState.Completed(run).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(root, true);
            NativeAllocator.Release();   // the later tests need not carry this one's full-size models
        }
    }
}
