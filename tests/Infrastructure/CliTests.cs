using SmVL.Experiments;
using Xunit;

namespace SmVL.Tests.Infrastructure;

/// <summary>The command line fails cleanly: usage errors exit 2, failures exit 1, one line each, never a stack trace.</summary>
public class CliTests
{
    private static async Task<(int code, string output, string error)> Run(params string[] argv)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await Cli.RunAsync(argv, CancellationToken.None, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("train --experiment experiments/tiny-connector.json --out /tmp/x --resum", "--resum")]
    [InlineData("train --experiment experiments/tiny-connector.json --out /tmp/x --setps 10", "--setps")]
    [InlineData("tiny --micro-batch 0", "--micro-batch must be at least 1")]
    [InlineData("tiny --lr -1", "--lr must be a finite number > 0")]
    [InlineData("tiny --lr abc", "abc")]
    [InlineData("eval --model m --data d --out o --batch 0", "--batch must be at least 1")]
    [InlineData("train --out /tmp/x", "--experiment")]
    [InlineData("generate --model m --prompt p --image i --top-p 1.5", "--top-p")]
    [InlineData("tiny --connector-init zeros", "zeros")]
    [InlineData("no-such-verb", "no-such-verb")]
    public async Task UsageErrorsExitTwoNamingTheFlag(string line, string named)
    {
        var (code, _, error) = await Run(line.Split(' '));
        Assert.Equal(2, code);
        Assert.Contains(named, error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task EveryVerbHasHelpThatListsItsOptionsAndStartsNothing()
    {
        foreach (var verb in Cli.Verbs)
        {
            var (code, output, error) = await Run(verb.Name, "--help");
            Assert.True(code == 0, $"{verb.Name} --help exited {code}: {error}");
            foreach (var option in verb.Options.OfType<System.CommandLine.Option>())
                Assert.Contains(option.Name, output);
        }
    }

    [Fact]
    public async Task TheMainJobStopsCleanlyWhenInterrupted()
    {
        // Ctrl+C (or SIGTERM) cancels the token the verbs get: `tiny` stops at a step boundary or between runs.
        string dir = Fixtures.TempDir();
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await Cli.RunAsync(["tiny", "--quick", "--train-images", "40", "--out", dir], stop.Token, output, error);
        Assert.Equal(130, code);
        Assert.Contains("smvl tiny: stopped; parents already built stay cached", error.ToString());
        Assert.DoesNotContain("   at ", error.ToString());
        Assert.False(File.Exists(Path.Combine(dir, "summary.json")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void TrainStopsOnSigtermWhileTheTinyParentsAreBuilt()
    {
        // The user's case: `train` on a tiny experiment with no parents cached, interrupted while it pretrains them.
        string dir = Fixtures.TempDir(), cache = Path.Combine(dir, "cache");
        Directory.CreateDirectory(cache);
        Directory.CreateSymbolicLink(Path.Combine(cache, "npm"), Path.Combine(Paths.Cache, "npm"));
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(Paths.RepoRoot, "experiments", "bin", "Release", "net10.0", "SmVL.Cli.dll"), "train",
                                  "--experiment", Path.Combine(Paths.RepoRoot, "experiments", "tiny-connector.json"), "--out", Path.Combine(dir, "run") })
            start.ArgumentList.Add(a);
        start.Environment["SMVL_CACHE"] = cache;
        using var p = System.Diagnostics.Process.Start(start)!;
        var error = new System.Text.StringBuilder();
        var output = new System.Text.StringBuilder();
        p.ErrorDataReceived += (_, e) => { lock (error) error.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!Output().Contains("qwen3 parent:") && clock.Elapsed < TimeSpan.FromMinutes(2) && !p.HasExited) Thread.Sleep(100);
        Assert.False(p.HasExited, Text());
        Thread.Sleep(1000);   // the reader in its first steps, the tower still preparing its images
        System.Diagnostics.Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        bool exited = p.WaitForExit(10_000);
        if (!exited) p.Kill(true);
        Assert.True(exited, $"train still running 10 s after SIGTERM:\n{Text()}");
        p.WaitForExit();   // flushes the redirected streams
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("smvl train: stopped while the tiny parents were being built; those already built stay cached", Text());
        Assert.DoesNotContain("   at ", Text());
        Directory.Delete(dir, true);

        string Text() { lock (error) return error.ToString(); }
        string Output() { lock (output) return output.ToString(); }
    }

    [Fact]
    public async Task VersionPrintsTheAssemblyVersion()
    {
        var (code, output, _) = await Run("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+", output.Trim());
    }

    [Fact]
    public async Task AMissingOrCorruptFileIsOneLineNamingItWithExitOne()
    {
        string dir = Fixtures.TempDir();
        string tokenizer = Path.Combine(dir, "tokenizer.json"), input = Path.Combine(dir, "in.json");
        File.WriteAllText(tokenizer, "{ not json");
        File.WriteAllText(input, "[\"a\"]");
        var (code, _, error) = await Run("tokenize", "--tokenizer", tokenizer, "--input", input, "--out", Path.Combine(dir, "out.json"));
        Assert.InRange(code, 1, 2);
        Assert.Contains(tokenizer, error);
        Assert.Single(error.Trim().Split('\n'));

        (code, _, error) = await Run("generate", "--model", Path.Combine(dir, "no-model"), "--image", "x.png", "--prompt", "p");
        Assert.InRange(code, 1, 2);
        Assert.Contains("x.png", error);   // the first missing file it meets
        Assert.Single(error.Trim().Split('\n'));
    }
}
