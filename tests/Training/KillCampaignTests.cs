using System.Diagnostics;
using SmVL.Stitching;
using SmVL.TinyWorld;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Training;

/// <summary>
/// The fault campaign's hardest case, the way a user meets it: the CLI's `train` process killed with
/// SIGKILL (no handler runs) at 10 seeded random steps, each time restarted with `--resume`. The
/// per-step losses and the saved model must be bitwise those of an uninterrupted run. Small tiny-world
/// parents (as HF folders) and a 60-step schedule with a checkpoint every 5 steps keep it to about a minute.
/// </summary>
public class KillCampaignTests(ITestOutputHelper log)
{
    private static readonly TinySettings Small = TinySettings.Quick with { ParentImages = 100, LanguageSteps = 10, VisionSteps = 10, ParentBatch = 8 };
    private const int Steps = 60, Kills = 10;

    [Fact]
    public void TrainKilledAtTenRandomStepsAndResumedIsBitwiseTheUninterruptedRun()
    {
        string root = Fixtures.TempDir(), data = Path.Combine(root, "data");
        var parents = new TinyWorldRun(Small, root, log.WriteLine).Parents();
        TinyWorldExport.Write(data, 40, 6, seed: 1);
        var experiment = new Experiment
        {
            Name = "kill-campaign",
            Parents = new ParentsSpec { Vlm = parents.VlmDir, Lm = parents.LmDir },
            Data = new DataSpec { Recipe = "tinyworld", TrainSize = 40, EvalSize = 6, Seed = 1 },
            Stitch = new StitchSpec { Seed = 1 },
            Train = new TrainOptions { Steps = Steps, MicroBatch = 4, LearningRate = 1e-2, SaveEvery = 5, KeepLast = 2, EvalEvery = 20, EvalBatches = 1 },
            LabelPolicy = "assistant-only",
        };
        string file = Path.Combine(root, "kill-campaign.json");
        experiment.Save(file);
        string[] Train(string outDir, bool resume) =>
            ["train", "--experiment", file, "--out", outDir, "--data", data, .. (resume ? new[] { "--resume" } : Array.Empty<string>())];

        string calm = Path.Combine(root, "calm"), killed = Path.Combine(root, "killed");
        Assert.Equal(0, Cli(Train(calm, resume: false), killAtStep: null));

        var random = new Random(20261205);
        var targets = Enumerable.Range(0, Kills).Select(_ => random.Next(1, Steps)).Order().ToList();
        int kills = 0;
        foreach (int target in targets)
        {
            int exit = Cli(Train(killed, resume: kills > 0), killAtStep: target);
            if (exit != 137) continue;   // the run passed the target before the poll saw it and finished: no kill
            kills++;
            log.WriteLine($"killed at step ≥ {target}; checkpoints: {string.Join(", ", Directory.GetDirectories(TrainState.Dir(killed)).Select(Path.GetFileName).Order())}");
        }
        Assert.Equal(0, Cli(Train(killed, resume: true), killAtStep: null));
        Assert.True(kills >= Kills / 2, $"only {kills} of {Kills} kills landed inside the run");

        double[] Losses(string dir) => MetricsLog.Read(dir).Where(r => r["loss"] is not null).Select(r => r["loss"]!.GetValue<double>()).ToArray();
        var (a, b) = (Losses(calm), Losses(killed));
        Assert.Equal(Steps, a.Length);
        Assert.Equal(a.Select(BitConverter.DoubleToInt64Bits), b.Select(BitConverter.DoubleToInt64Bits));
        foreach (var f in Directory.GetFiles(Path.Combine(calm, "model"), "*.safetensors"))
            Assert.True(File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(killed, "model", Path.GetFileName(f)))), $"{Path.GetFileName(f)} differs");
        log.WriteLine($"{kills} kills, {Steps} losses and the saved model bitwise equal to the uninterrupted run");
    }

    /// <summary>Runs the CLI in its own process; with <paramref name="killAtStep"/>, SIGKILLs it once metrics.jsonl has a row at or past that step. Returns the exit code (137 when killed).</summary>
    private int Cli(string[] args, int? killAtStep)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(Paths.RepoRoot, "experiments", "bin", "Release", "net10.0", "SmVL.Cli.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        string metrics = Path.Combine(args[Array.IndexOf(args, "--out") + 1], "metrics.jsonl");
        var clock = Stopwatch.StartNew();
        while (!p.WaitForExit(5))
        {
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) { p.Kill(true); throw new TimeoutException($"train did not finish in 5 minutes: {string.Join(' ', args)}"); }
            if (killAtStep is { } step && LastStep(metrics) >= step) { p.Kill(); p.WaitForExit(); return 137; }
        }
        if (p.ExitCode != 0) log.WriteLine(stderr.Result);
        return p.ExitCode;
    }

    private static long LastStep(string metrics)
    {
        if (!File.Exists(metrics)) return -1;
        using var reader = new StreamReader(new FileStream(metrics, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        string? last = null;
        for (string? line; (line = reader.ReadLine()) is not null;) if (line.EndsWith('}')) last = line;
        return last is null ? -1 : System.Text.Json.Nodes.JsonNode.Parse(last)?["step"]?.GetValue<long>() ?? -1;
    }
}
