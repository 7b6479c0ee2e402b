using System.Text.Json.Nodes;
using SmVL.Experiments.Notebooks;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Notebooks;

/// <summary>
/// The teaching notebooks in notebooks/: each runs top to bottom with the headless runner and
/// shows at least one chart, and the committed files pass lint (metadata right, no outputs).
/// They are read from the source tree so their relative #r paths reach lib/SmVL's build output.
/// In the DefaultDevice collection because the notebooks build full-size models on the meta
/// device, which switches torch's process-wide default device for a moment.
/// </summary>
[Collection("DefaultDevice")]
public sealed class NotebooksExecuteTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string Dir = Path.Combine(SmVL.Paths.RepoRoot, "notebooks");
    private readonly string _out = Directory.CreateTempSubdirectory("smvl-notebooks-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private static List<string> Names() =>
        Directory.GetFiles(Dir, "*.ipynb").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();

    public static IEnumerable<object[]> All() => Names().Select(n => new object[] { n });

    [Fact]
    public void The_series_is_there()
    {
        var names = Names();
        foreach (var expected in new[] { "00-setup.ipynb", "01-anatomy.ipynb", "02-tokenizer-surgery.ipynb", "03-chat-template.ipynb", "04-connector-init.ipynb" })
            Assert.Contains(expected, names);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Notebook_is_committed_clean(string name) => Assert.Empty(NotebookLint.Check(Path.Combine(Dir, name)));

    [Theory]
    [MemberData(nameof(All))]
    public async Task Notebook_runs_and_draws_a_chart(string name)
    {
        var log = new StringWriter();
        var result = await NotebookRunner.RunAsync(Path.Combine(Dir, name), _out, log);
        output.WriteLine(log.ToString());
        Assert.True(result.Success, result.Error + "\n" + log);

        var executed = Notebook.Load(result.OutputNotebook);
        var code = executed.CodeCells.ToList();
        Assert.All(code, c => Assert.NotNull(c.Json["execution_count"]));
        var outputs = code.SelectMany(c => c.Outputs.OfType<JsonObject>()).ToList();
        Assert.DoesNotContain(outputs, o => o["output_type"]!.GetValue<string>() == "error");
        int charts = outputs.Count(o => o["data"]?["text/html"] is { } html && Notebook.Text(html).Contains("Plotly.newPlot("));
        Assert.True(charts >= 1, $"{name}: no Plotly chart among {outputs.Count} outputs");
        Assert.True(File.Exists(result.OutputHtml));
        output.WriteLine($"{name}: {result.Elapsed.TotalSeconds:F1} s, {charts} chart(s)");
    }
}
