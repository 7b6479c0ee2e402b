using SmVL.Experiments;
using SmVL.Checkpoints;
using SmVL.TinyWorld;
using SmVL.Stitching;
using SmVL.Tests.Stitching;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Training;

/// <summary>
/// Experiment files run end to end on the tiny world (small cached parents, a few steps): interrupted
/// with --max-steps and resumed, a run is bitwise the uninterrupted one; the verb's errors name the file.
/// </summary>
public class ExperimentRunnerTests(ITestOutputHelper log)
{
    /// <summary>Parents small enough to pretrain in seconds (cached after the first test).</summary>
    private static readonly TinySettings Parents = TinySettings.Quick with { ParentImages = 100, LanguageSteps = 10, VisionSteps = 10, ParentBatch = 8 };

    private static Experiment Small(string file) => Experiment.Load(Path.Combine(Paths.RepoRoot, "experiments", file)) is var e
        ? e with
        {
            Data = e.Data with { TrainSize = 40, EvalSize = 6 },
            Train = e.Train with { Steps = 6, MicroBatch = 4, SaveEvery = 3, KeepLast = 2, EvalEvery = 3, EvalBatches = 8 },
        }
        : null!;

    private ExperimentRunner Runner(Experiment e, string dir, string data, bool resume = false, long? maxSteps = null) =>
        new(e, dir, new ExperimentRunOptions
        {
            Resume = resume, MaxSteps = maxSteps, DataDir = data, TinyWorld = new TinyWorldRun(Parents, dir, log.WriteLine), Progress = false, Tensorboard = false, Log = log.WriteLine,
        });

    [Theory]
    [InlineData("tiny-connector.json")]
    [InlineData("tiny-lora.json")]
    public void InterruptedAndResumedIsBitwiseTheUninterruptedRun(string file)
    {
        var e = Small(file);
        string data = Fixtures.TempDir(), fullDir = Fixtures.TempDir(), splitDir = Fixtures.TempDir();

        using var full = Runner(e, fullDir, data);
        var a = full.Run();
        Assert.True(a.Finished);
        Assert.Equal(6, a.Losses.Count);
        Assert.True(File.Exists(Path.Combine(fullDir, "model", "model.safetensors")));

        ExperimentRunResult first;
        using (var interrupted = Runner(e, splitDir, data, maxSteps: 2))   // stops between checkpoints 0 and 3...
            first = interrupted.Run();
        Assert.False(first.Finished);
        Assert.Null(first.ModelDir);
        Assert.Equal(new[] { "step_000002" }, TrainState.Completed(splitDir).Select(Path.GetFileName));   // ...but a capped run saves where it stops
        // ...with where its data stands, so the resume seeks there instead of reading the first samples again.
        var state = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TrainState.Completed(splitDir).Single(), "state.json")))!;
        Assert.Equal($"{2 * e.Train.GradAccum * e.Train.MicroBatch}|{2 * e.Train.GradAccum * e.Train.MicroBatch - 1}", state["data_position"]!.GetValue<string>());
        using var resumed = Runner(e, splitDir, data, resume: true);
        var b = resumed.Run();
        Assert.True(b.Finished);
        Assert.Equal(6, b.Step);

        var losses = first.Losses.Concat(b.Losses).ToList();
        log.WriteLine("full    " + string.Join(" ", a.Losses.Select(l => l.ToString("R"))));
        log.WriteLine("resumed " + string.Join(" ", losses.Select(l => l.ToString("R"))));
        Assert.Equal(a.Losses.Select(BitConverter.DoubleToInt64Bits), losses.Select(BitConverter.DoubleToInt64Bits));

        // The metrics files agree row for row on everything but timings (and wall times); eval losses where both
        // evaluated (a capped run also evaluates where it stops).
        static IEnumerable<string> Rows(string dir) => MetricsLog.Read(dir).Select(r =>
            string.Join(",", r.Where(kv => !kv.Key.EndsWith("_per_s") && kv.Key is not ("elapsed_s" or "eval_loss" or "time")).Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.Equal(Rows(fullDir), Rows(splitDir));
        static Dictionary<long, double> Evals(string dir) => MetricsLog.Read(dir).Where(r => r["eval_loss"] is not null)
            .ToDictionary(r => r["step"]!.GetValue<long>(), r => r["eval_loss"]!.GetValue<double>());
        var evalFull = Evals(fullDir);
        Assert.Equal(new long[] { 3, 6 }, evalFull.Keys.Order());
        foreach (var (step, loss) in evalFull) Assert.Equal(loss, Evals(splitDir)[step]);

        // Final trainable parameters bitwise, and the saved HF folders byte for byte (LoRA merged).
        var trained = full.Trainer!.TrainableNames;
        Assert.NotEmpty(trained);
        var pa = full.Model!.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in resumed.Model!.named_parameters())
            Assert.True(StitchKit.BitEqual(pa[name], p), $"{name} differs after resume");
        Assert.Equal(File.ReadAllBytes(Path.Combine(fullDir, "model", "model.safetensors")), File.ReadAllBytes(Path.Combine(splitDir, "model", "model.safetensors")));
        Assert.Empty(Lora.Adapters(full.Model));
    }

    [Fact]
    public void TheSavedModelReloadsAndTheParentsStayFrozen()
    {
        var e = Small("tiny-connector.json") with { Train = Small("tiny-connector.json").Train with { Steps = 2, EvalEvery = 0 } };
        string dir = Fixtures.TempDir();
        using var runner = Runner(e, dir, Fixtures.TempDir());
        var result = runner.Run();
        var model = runner.Model!;
        Assert.Equal(new[] { "model.connector.modality_projection.proj.weight" }, runner.Trainer!.TrainableNames);
        Assert.Equal(1, runner.Trainer.OptimizerStateCount);
        Assert.All(model.named_parameters().Where(p => !p.parameter.requires_grad), p => Assert.Null(p.parameter.grad));
        Assert.Equal(model.model.connector.modality_projection.proj.weight!.numel(), result.Trainable);

        using var reloaded = SmVL.Models.Pretrained.LoadSmolVLM(result.ModelDir!);
        var saved = reloaded.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in model.named_parameters()) Assert.True(StitchKit.BitEqual(p, saved[name]), $"{name} changed in the saved folder");
        Assert.Equal(model.Config.ImageTokenId, HfConfig.Load<SmolVLMConfig>(result.ModelDir!).ImageTokenId);
    }

    [Fact]
    public void ResumingWithAnotherDefinitionIsRefused()
    {
        var e = Small("tiny-connector.json") with { Train = Small("tiny-connector.json").Train with { Steps = 2, EvalEvery = 0 } };
        string dir = Fixtures.TempDir(), data = Fixtures.TempDir();
        using (var r = Runner(e, dir, data, maxSteps: 1)) r.Run();
        using var other = Runner(e with { Train = e.Train with { LearningRate = 2 * e.Train.LearningRate } }, dir, data, resume: true);
        var ex = Assert.Throws<InvalidOperationException>(() => other.Run());
        Assert.Contains("experiment.json", ex.Message);
    }

    [Fact]
    public async Task TheVerbNamesTheFileOfABadExperiment()
    {
        string dir = Fixtures.TempDir(), bad = Path.Combine(dir, "bad.json");
        var e = Small("tiny-connector.json") with { Freeze = new FreezeSpec { Policy = "everything" } };
        File.WriteAllText(bad, e.ToJson().Replace("\"freeze\"", "\"frezee\"", StringComparison.Ordinal));
        var verb = new SmVL.Experiments.Verbs.TrainVerb();
        var unknownKey = await Assert.ThrowsAsync<SmVL.Experiments.CliException>(() => Cli.Invoke(verb, ["--experiment", bad, "--out", dir]));
        Assert.Contains(bad, unknownKey.Message);
        File.WriteAllText(bad, e.ToJson());
        var badPolicy = await Assert.ThrowsAsync<SmVL.Experiments.CliException>(() => Cli.Invoke(verb, ["--experiment", bad, "--out", dir]));
        Assert.Contains(bad, badPolicy.Message);
        Assert.Contains("freeze.policy", badPolicy.Message);
        var missing = await Assert.ThrowsAsync<SmVL.Experiments.CliException>(() => Cli.Invoke(verb, ["--experiment", Path.Combine(dir, "none.json"), "--out", dir]));
        Assert.Contains("none.json", missing.Message);
    }
}
