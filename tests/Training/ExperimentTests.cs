using SmVL.Stitching;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Training;

public class ExperimentTests(ITestOutputHelper log)
{
    private static string Dir => Path.Combine(Paths.RepoRoot, "experiments");

    [Fact]
    public void EveryExperimentFileRoundTripsAndValidates()
    {
        var all = Experiment.LoadAll(Dir);
        Assert.Superset(new[] { "tiny-connector", "tiny-broken-frozen", "tiny-broken-full", "tiny-connector-head", "tiny-lora", "cocoqa-200", "full-60k" }.ToHashSet(),
                        all.Select(e => e.experiment.Name).ToHashSet());
        foreach (var (path, e) in all)
        {
            log.WriteLine($"{Path.GetFileName(path)}: {e.Train.Steps} steps × {e.Train.EffectiveBatch}, {e.Train.Schedule}, policy {e.Freeze.Policy}");
            Assert.Equal(Path.GetFileNameWithoutExtension(path), e.Name);
            Assert.Empty(e.Problems());
            Assert.True(Experiment.PreservesFile(File.ReadAllText(path), e), $"{path}: a value does not survive load/save");
            var again = Experiment.Parse(e.ToJson());
            Assert.Equal(e.ToJson(), again.ToJson());
            Assert.Equal(e.Train, again.Train);
            _ = e.Policy; _ = e.ConnectorInit;
        }
    }

    [Fact]
    public void TheRealRunsSayWhatTheBlogDid()
    {
        var coco = Experiment.Load(Path.Combine(Dir, "cocoqa-200.json"));
        Assert.Equal((200L, 1, 32, 32, "linear", 50L, 1e-4, 2048), (coco.Train.Steps, coco.Train.MicroBatch, coco.Train.GradAccum, coco.Train.EffectiveBatch, coco.Train.Schedule, coco.Train.Warmup, coco.Train.LearningRate, coco.MaxLength));
        Assert.Equal(FreezePolicy.ConnectorOnly, coco.Policy);
        Assert.Equal("full-text", coco.LabelPolicy);
        Assert.False(coco.Stitch.BrokenWiring);

        var full = Experiment.Load(Path.Combine(Dir, "full-60k.json"));
        Assert.Equal(21, full.Data.Subsets!.Count);
        Assert.Equal(61_440, full.Data.TrainSize);
        Assert.Equal(full.Data.TrainSize / full.Train.EffectiveBatch, full.Train.Steps);
        Assert.Equal((1920L, "cosine", 192L), (full.Train.Steps, full.Train.Schedule, full.Train.Warmup));

        var red = Experiment.Load(Path.Combine(Dir, "tiny-broken-frozen.json"));
        Assert.True(red.Stitch.BrokenWiring);
        Assert.Equal(FreezePolicy.ConnectorOnly, red.Policy);
        var blue = Experiment.Load(Path.Combine(Dir, "tiny-broken-full.json"));
        Assert.True(blue.Stitch.BrokenWiring);
        Assert.Equal(FreezePolicy.Full, blue.Policy);
        Assert.Equal(FreezePolicy.ConnectorAndHead, Experiment.Load(Path.Combine(Dir, "tiny-connector-head.json")).Policy);
        var lora = Experiment.Load(Path.Combine(Dir, "tiny-lora.json")).ToLoraOptions()!;
        Assert.Equal((8, 16.0, 0.0), (lora.Rank, lora.Alpha, lora.Dropout));
        Assert.Equal(LoraOptions.AttentionTargets, lora.Targets);
        Assert.Null(coco.ToLoraOptions());
    }

    [Fact]
    public void InvalidDefinitionsAreRejectedWithEveryProblem()
    {
        var good = Experiment.Load(Path.Combine(Dir, "tiny-connector.json"));
        var bad = good with
        {
            Name = "",
            Freeze = new FreezeSpec { Policy = "lora" },
            Train = good.Train with { Steps = 0, Schedule = "step" },
            LabelPolicy = "answers",
            Stitch = good.Stitch with { ConnectorInit = "xavier" },
        };
        var problems = bad.Problems().ToList();
        foreach (var p in problems) log.WriteLine(p);
        Assert.Contains(problems, p => p.StartsWith("name"));
        Assert.Contains(problems, p => p.Contains("freeze.lora is missing"));
        Assert.Contains(problems, p => p.StartsWith("train.steps"));
        Assert.Contains(problems, p => p.StartsWith("train.schedule"));
        Assert.Contains(problems, p => p.StartsWith("label_policy"));
        Assert.Contains(problems, p => p.StartsWith("stitch.connector_init"));
        Assert.Contains((good with { Freeze = new FreezeSpec { Policy = "frozen" } }).Problems(), p => p.StartsWith("freeze.policy"));
        Assert.Contains((good with { Freeze = new FreezeSpec { Policy = "lora", Lora = new LoraSpec { Targets = new[] { "out_proj" } } } }).Problems(), p => p.StartsWith("freeze.lora"));

        string dir = Fixtures.TempDir();
        string typo = Path.Combine(dir, "typo.json");
        File.WriteAllText(typo, File.ReadAllText(Path.Combine(Dir, "tiny-connector.json")).Replace("\"grad_accum\"", "\"gradient_accum\""));
        var e = Assert.Throws<InvalidDataException>(() => Experiment.Load(typo));
        Assert.Contains("gradient_accum", e.Message);
        string invalid = Path.Combine(dir, "invalid.json");
        bad.Save(invalid);
        Assert.Throws<InvalidDataException>(() => Experiment.Load(invalid));
    }
}
