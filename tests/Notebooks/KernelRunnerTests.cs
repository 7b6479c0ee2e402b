using SmVL.Experiments.Notebooks;
using Xunit;

namespace SmVL.Tests.Notebooks;

/// <summary>
/// The runner is the kernel: a throwing cell fails the run and is named; the executed notebook and
/// its page are written either way. The notebook sits in a temp folder with a copy of the repo's tool
/// manifest, so `dotnet repl` resolves there as in notebooks/.
/// </summary>
public sealed class KernelRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("smvl-kernel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_cell_that_throws_fails_the_run_and_is_named()
    {
        Directory.CreateDirectory(Path.Combine(_dir, ".config"));
        File.Copy(Path.Combine(SmVL.Paths.RepoRoot, ".config", "dotnet-tools.json"), Path.Combine(_dir, ".config", "dotnet-tools.json"));
        string code = """{"cell_type":"code","metadata":{"dotnet_interactive":{"language":"csharp"},"polyglot_notebook":{"kernelName":"csharp"}},"outputs":[],"execution_count":null,"source":SRC}""";
        string nb = """{"nbformat":4,"nbformat_minor":5,"metadata":{"kernelspec":{"name":".net-csharp"},"language_info":{"name":"csharp"}},"cells":[""" +
                    code.Replace("SRC", "\"Console.WriteLine(\\\"hello kernel\\\");\"") + "," +
                    code.Replace("SRC", "\"throw new InvalidOperationException(\\\"cell two fails\\\");\"") + "]}";
        string path = Path.Combine(_dir, "fails.ipynb");
        File.WriteAllText(path, nb);

        var r = await KernelRunner.RunAsync(path, Path.Combine(_dir, "out"), timeout: TimeSpan.FromMinutes(5));

        Assert.False(r.Success);
        var error = Assert.Single(r.Errors);
        Assert.StartsWith("code cell 2: ", error);
        Assert.Contains("cell two fails", error);
        Assert.Contains("hello kernel", ExecutedNotebook.Load(r.OutputNotebook).ShownText());
        Assert.Contains("cell two fails", File.ReadAllText(r.OutputHtml));
    }
}
