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
        foreach (var expected in new[] { "00-setup.ipynb", "01-anatomy.ipynb", "02-tokenizer-surgery.ipynb", "03-chat-template.ipynb", "04-connector-init.ipynb",
                                         "05-broken-wiring.ipynb", "06-training.ipynb", "07-inference.ipynb" })
            Assert.Contains(expected, names);
    }

    /// <summary>
    /// The figure each later notebook exists for, found by text in its outputs: chart titles and
    /// trace names (Plotly JSON), a gallery's inline PNGs, a printed fact. Notebooks not listed
    /// need one chart.
    /// </summary>
    private static readonly Dictionary<string, (int Charts, string[] Shows)> Figures = new()
    {
        ["05-broken-wiring.ipynb"] = (4, ["Training loss: correct wiring vs broken wiring", "\"name\":\"broken_frozen\"", "\"name\":\"broken_full\"",
                                          "Connector gradient norm per step", "connector grad norm = 0 at all", "data:image/png;base64,"]),
        ["06-training.ipynb"] = (5, ["Gradient norm per module", "Training throughput", "Learning rate", "cocoqa-200", "full-60k", "TFLOP"]),
        ["07-inference.ipynb"] = (1, ["Held-out accuracy by question type", "majority baseline", "832 image tokens", "data:image/png;base64,", "使用中文回答所有问题。"]),
    };

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
        var (minCharts, shows) = Figures.GetValueOrDefault(name, (1, []));
        Assert.True(charts >= minCharts, $"{name}: {charts} Plotly chart(s) among {outputs.Count} outputs, expected at least {minCharts}");
        string shown = string.Concat(outputs.Select(o => Notebook.Text(o["text"]) +
            (o["data"] is JsonObject d ? string.Concat(d.Select(kv => Notebook.Text(kv.Value))) : "")));
        foreach (var text in shows) Assert.True(shown.Contains(text), $"{name}: its outputs never show \"{text}\"");
        Assert.True(File.Exists(result.OutputHtml));
        output.WriteLine($"{name}: {result.Elapsed.TotalSeconds:F1} s, {charts} chart(s)");
    }
}
