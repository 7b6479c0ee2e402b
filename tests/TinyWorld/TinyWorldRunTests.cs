using SmVL.Training;
using System.Text.Json.Nodes;
using SmVL.TinyWorld;
using Xunit;

namespace SmVL.Tests.TinyWorld;

/// <summary>
/// The embedded default end to end at its smallest: data → parquet → Cauldron reader → processor →
/// stitched HF-format parents → trainer → greedy eval → summary.json and report.html.
/// </summary>
public class TinyWorldRunTests
{
    [Fact]
    public void QuickRunShowsTheBrokenWiringSignature()
    {
        var dir = Fixtures.TempDir();
        var settings = TinySettings.Quick with { TrainImages = 160, EvalImages = 20, Steps = 8, MicroBatch = 4, ParentImages = 100, LanguageScenes = 100, LanguageSteps = 10, VisionSteps = 10, ParentBatch = 8 };
        var result = new TinyWorldRun(settings, dir, _ => { }).Run(includeFull: false);

        var stitched = result.Run("stitched")!;
        var broken = result.Run("broken_frozen")!;
        Assert.True(stitched.MaxConnectorGradNorm > 0, "with correct wiring the connector must receive a gradient");
        Assert.Equal(0.0, broken.MaxConnectorGradNorm);                       // exactly zero at every step

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "summary.json")))!;
        Assert.Equal(0.0, summary["connector_grad_norm_max_broken_frozen"]!.GetValue<double>());
        Assert.NotNull(summary["accuracy"]!["stitched"]);
        Assert.NotNull(summary["accuracy"]!["majority_baseline"]);
        Assert.Contains("<h2>Training loss", File.ReadAllText(Path.Combine(dir, "report.html")));
        Assert.True(File.Exists(Path.Combine(dir, "stitched", "metrics.jsonl")));
    }

    /// <summary>
    /// The five runs side by side (one lane per core, each on one libtorch thread: two lanes on two cores,
    /// four on four) give the bits they give one after another on one core: every saved weight and every answer.
    /// </summary>
    [Fact]
    public void RunsSideBySideGiveTheBitsOfRunsOneAfterAnother()
    {
        var settings = TinySettings.Quick with { TrainImages = 160, EvalImages = 20, Steps = 8, MicroBatch = 4, ParentImages = 100, LanguageScenes = 100, LanguageSteps = 10, VisionSteps = 10, ParentBatch = 8 };
        var dirs = new[] { 1, 2, 4 }.Select(cores =>
        {
            var dir = Fixtures.TempDir();
            new TinyWorldRun(settings with { Cores = cores }, dir, _ => { }).Run(includeFull: true);
            return dir;
        }).ToList();
        foreach (var (run, _) in TinyWorldRun.Experiments(settings))
            foreach (var dir in dirs.Skip(1))
            {
                Assert.Equal(File.ReadAllText(Path.Combine(dirs[0], run, "predictions.jsonl")), File.ReadAllText(Path.Combine(dir, run, "predictions.jsonl")));
                var files = Directory.GetFiles(Path.Combine(dirs[0], run, "model"), "*.safetensors");
                Assert.NotEmpty(files);
                foreach (var file in files)
                    Assert.True(File.ReadAllBytes(file).SequenceEqual(File.ReadAllBytes(Path.Combine(dir, run, "model", Path.GetFileName(file)))), $"{run}: {Path.GetFileName(file)} differs between {dirs[0]} and {dir}");
            }
    }

    /// <summary>
    /// One run path: the main job's runs are experiment records, and with the default settings they
    /// are the files in experiments/ (so `train --experiment experiments/tiny-connector.json` is the
    /// main job's connector-only run).
    /// </summary>
    [Fact]
    public void TheMainJobsRunsAreTheTinyExperimentFiles()
    {
        var runs = TinyWorldRun.Experiments(new TinySettings());
        Assert.Equal(new[] { "stitched", "broken_frozen", "broken_full", "connector_head", "lora" }, runs.Select(r => r.Run));
        foreach (var (_, experiment) in runs)
        {
            string file = Path.Combine(Paths.RepoRoot, "experiments", experiment.Name + ".json");
            Assert.True(File.Exists(file), $"{file} is missing; it should read:\n{experiment.ToJson()}");
            Assert.True(experiment.ToJson() == Experiment.Load(file).ToJson(), $"{file} differs from the main job's run; it should read:\n{experiment.ToJson()}");
            Assert.Empty(experiment.Problems());
        }
    }

    /// <summary>
    /// The lanes take the runs that update the vocabulary-sized matrices first, then the rest in order,
    /// longer runs before shorter ones (so the two lanes of a 2-core machine end close together).
    /// </summary>
    [Fact]
    public void LanesTakeTheLongestRunsFirst()
    {
        var runs = TinyWorldRun.Experiments(new TinySettings());
        Assert.Equal(new[] { "broken_full", "connector_head", "stitched", "broken_frozen", "lora" },
            TinyWorldRun.LongestFirst(runs.Select(r => r.Experiment).ToList()).Select(i => runs[i].Run));
        var longer = runs.Select(r => r.Run == "lora" ? r.Experiment with { Train = r.Experiment.Train with { Steps = 1000 } } : r.Experiment).ToList();
        Assert.Equal(new[] { "broken_full", "connector_head", "lora", "stitched", "broken_frozen" },
            TinyWorldRun.LongestFirst(longer).Select(i => runs[i].Run));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void TrainingAnExperimentFileOfTheMainJobUsesItsSeedsParents(long seed)
    {
        var settings = new TinySettings { Seed = seed };
        foreach (var (_, experiment) in TinyWorldRun.Experiments(settings))
        {
            var used = TinySettings.ForExperiment(Experiment.Parse(experiment.ToJson()));
            Assert.Equal(settings.LanguageParentKey, used.LanguageParentKey);
            Assert.Equal(settings.VisionParentKey, used.VisionParentKey);
        }
    }

    [Fact]
    public void CacheKeysFollowTheSettingsTheyDependOn()
    {
        var quick = TinySettings.Quick;
        Assert.Equal(quick.Key, (TinySettings.Quick with { }).Key);
        Assert.NotEqual(quick.Key, (quick with { Steps = quick.Steps + 1 }).Key);
        Assert.NotEqual(quick.Key, (quick with { WarmupRatio = 0.2 }).Key);
        // The language parent does not depend on the vision parent's steps, nor on the stitch's.
        Assert.Equal(quick.LanguageParentKey, (quick with { VisionSteps = 7, Steps = 3 }).LanguageParentKey);
        Assert.NotEqual(quick.LanguageParentKey, (quick with { LanguageSteps = 7 }).LanguageParentKey);
        Assert.NotEqual(quick.LanguageParentKey, (quick with { LanguageLearningRate = 1e-3 }).LanguageParentKey);
        Assert.NotEqual(quick.LanguageParentKey, (quick with { LanguageLayers = 3 }).LanguageParentKey);
        Assert.NotEqual(quick.LanguageParentKey, (quick with { LanguageWordNoise = 0.5 }).LanguageParentKey);
        Assert.NotEqual(new TinySettings().LanguageParentKey, (new TinySettings() with { LanguageWordNoise = 0.25 }).LanguageParentKey);
        Assert.NotEqual(quick.VisionParentKey, (quick with { VisionSteps = 7 }).VisionParentKey);
    }
}
