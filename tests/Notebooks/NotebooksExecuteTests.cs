using SmVL.Experiments.Notebooks;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Notebooks;

/// <summary>
/// The teaching notebooks in notebooks/, each run in the .NET Interactive kernel exactly as the
/// acceptance check and a headless user run it (`cd notebooks && dotnet repl --run NB --exit-after-run
/// --output-format ipynb --output-path OUT`, <see cref="KernelRunner"/>): the kernel exits 0, no cell
/// ends in an error, and each draws its Plotly charts; the committed files pass lint. They run from
/// the source tree so their relative #r reaches lib/SmVL.Notebooks/bin. In the DefaultDevice
/// collection so that no other heavy test shares the two cores with a kernel process.
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
        // 05 trains the quick runs on a fresh cache: 18 min on a busy 2-core machine.
        var result = await KernelRunner.RunAsync(Path.Combine(Dir, name), _out, timeout: TimeSpan.FromMinutes(45));
        output.WriteLine(result.Summary);
        Assert.True(result.Success, result.Summary + "\n" + result.Log);

        var executed = ExecutedNotebook.Load(result.OutputNotebook);
        Assert.All(executed.CodeCells, c => Assert.NotEmpty(c.Outputs));
        var (minCharts, shows) = Figures.GetValueOrDefault(name, (1, []));
        Assert.True(result.Charts >= minCharts, $"{name}: {result.Charts} Plotly chart(s), expected at least {minCharts}");
        string shown = executed.ShownText();
        foreach (var text in shows) Assert.True(shown.Contains(text), $"{name}: its outputs never show \"{text}\"");
        SmVL.Tests.Plots.HtmlTests.AssertOffline(File.ReadAllText(result.OutputHtml));   // the page opens offline
    }
}
