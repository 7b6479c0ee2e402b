using System.Text.Json.Nodes;
using SmVL.Experiments.Notebooks;
using Xunit;

namespace SmVL.Tests.Notebooks;

/// <summary>
/// Runs the fixture notebooks in-process. They are read from the source tree (not the copy in
/// bin/) so their relative #r paths point at the real lib/SmVL build output.
/// </summary>
public sealed class NotebookRunnerTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(SmVL.Paths.RepoRoot, "tests", "fixtures", "notebooks");
    private readonly string _out = Directory.CreateTempSubdirectory("smvl-nb-").FullName;
    private readonly StringWriter _log = new();

    public void Dispose() => Directory.Delete(_out, recursive: true);

    private async Task<(NotebookResult Result, List<NotebookCell> Code)> Run(string fixture)
    {
        var result = await NotebookRunner.RunAsync(Path.Combine(Fixtures, fixture), _out, _log);
        var executed = Notebook.Load(result.OutputNotebook);
        return (result, executed.CodeCells.ToList());
    }

    private static List<JsonObject> Outputs(NotebookCell cell) => cell.Outputs.OfType<JsonObject>().ToList();
    private static string Type(JsonObject o) => o["output_type"]!.GetValue<string>();
    private static string Text(JsonNode? n) => Notebook.Text(n);

    [Fact]
    public async Task Basic_notebook_gets_stream_display_and_result_outputs_and_html()
    {
        var (r, code) = await Run("basic.ipynb");
        Assert.True(r.Success, r.Error);
        Assert.Equal(4, code.Count);
        Assert.Equal(["cell-2", "cell-3", "cell-4", "cell-5"], code.Select(c => c.Id));
        Assert.Equal([1, 2, 3, 4], code.Select(c => c.Json["execution_count"]!.GetValue<int>()));

        var c1 = Assert.Single(Outputs(code[0]));
        Assert.Equal(("stream", "stdout", "hello from cell 1\n"), (Type(c1), c1["name"]!.GetValue<string>(), Text(c1["text"])));

        var chart = Assert.Single(Outputs(code[1]));
        Assert.Equal("display_data", Type(chart));
        string chartHtml = Text(chart["data"]!["text/html"]);
        Assert.Contains("Plotly.newPlot(", chartHtml);
        Assert.Contains("\"y\":[2,4,8]", chartHtml);
        Assert.NotNull(chart["data"]!["text/plain"]);

        var result = Assert.Single(Outputs(code[2]));
        Assert.Equal("execute_result", Type(result));
        Assert.Equal(3, result["execution_count"]!.GetValue<int>());
        Assert.Equal("42", Text(result["data"]!["text/plain"]));

        var c4 = Outputs(code[3]);
        Assert.Equal(["stream", "stream", "display_data"], c4.Select(Type));
        Assert.Equal("total is still 40\n", Text(c4[0]["text"]));
        Assert.Equal(("stderr", "to stderr\n"), (c4[1]["name"]!.GetValue<string>(), Text(c4[1]["text"])));
        Assert.Equal("done", Text(c4[2]["data"]!["text/plain"]));

        string html = File.ReadAllText(r.OutputHtml);
        string divId = System.Text.RegularExpressions.Regex.Match(chartHtml, "<div id=\"([0-9a-f-]+)\"").Groups[1].Value;
        Assert.Contains($"<div id=\"{divId}\">", html);
        Assert.Contains("<h1>Basic fixture</h1>", html);
        Assert.Contains("hello from cell 1", html);
        if (File.Exists(SmVL.Plots.Html.PlotlyJsCachePath))
        {
            Assert.Contains("plotly.js v" + SmVL.Plots.Html.PlotlyJsVersion, html);
            Assert.DoesNotContain($"<script src=\"{SmVL.Plots.Html.PlotlyJsCdn}\"", html);
        }
        else Assert.Contains($"<script src=\"{SmVL.Plots.Html.PlotlyJsCdn}\"", html);
        Assert.Contains("cell 4/4 ok", _log.ToString());
    }

    [Fact]
    public async Task Throwing_cell_stops_the_run_and_is_named()
    {
        var (r, code) = await Run("throws.ipynb");
        Assert.False(r.Success);
        Assert.Equal(3, r.FailedCell);
        Assert.Contains("throws.ipynb", r.Error);
        Assert.Contains("code cell 3", r.Error);
        Assert.Contains("boom in cell 3", r.Error);

        var outs = Outputs(code[2]);
        Assert.Equal(["stream", "error"], outs.Select(Type));
        Assert.Equal("cell 3 starts\n", Text(outs[0]["text"]));
        Assert.Equal("InvalidOperationException", outs[1]["ename"]!.GetValue<string>());
        Assert.Equal("boom in cell 3", outs[1]["evalue"]!.GetValue<string>());
        Assert.Contains(outs[1]["traceback"]!.AsArray(), l => l!.GetValue<string>().Contains("throws.ipynb:line 2"));

        Assert.Empty(code[3].Outputs);
        Assert.Null(code[3].Json["execution_count"]);
        Assert.True(File.Exists(r.OutputHtml));
    }

    [Fact]
    public async Task Compile_error_names_cell_and_line()
    {
        var (r, code) = await Run("compile_error.ipynb");
        Assert.False(r.Success);
        Assert.Equal(2, r.FailedCell);
        Assert.Contains("code cell 2", r.Error);
        Assert.Contains("line 2: CS0103", r.Error);
        var error = Assert.Single(Outputs(code[1]));
        Assert.Equal("CompilationError", error["ename"]!.GetValue<string>());
        Assert.Empty(code[2].Outputs);
    }

    [Fact]
    public async Task Runner_assemblies_satisfy_nuget_and_path_references_without_second_copies()
    {
        var (r, code) = await Run("references.ipynb");
        Assert.True(r.Success, r.Error);
        string stdout = Text(Outputs(code[0])[0]["text"]);
        Assert.Contains("TorchSharp context: Default", stdout);
        Assert.Contains("SmVL context: Default", stdout);
        Assert.Contains("value = 2", Text(Assert.Single(Outputs(code[1]))["data"]!["text/plain"]));
        foreach (var name in new[] { "TorchSharp", "SmVL", "Plotly.NET" })
            Assert.Single(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == name);
    }

    [Fact]
    public async Task Package_the_runner_lacks_is_restored_and_loaded_into_the_default_context()
    {
        var (r, code) = await Run("nuget_restore.ipynb");
        Assert.True(r.Success, r.Error);
        var outs = Outputs(code[0]);
        Assert.Equal("MathNet context: Default\n", Text(outs[0]["text"]));
        Assert.StartsWith("24.0000", Text(outs[1]["data"]!["text/plain"]));
        Assert.Single(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "MathNet.Numerics");
    }

    [Theory]
    [InlineData("#r \"missing/Nope.dll\"\n1", "ReferenceNotFound", "Nope.dll")]
    [InlineData("#!fsharp\nlet x = 1", "NotSupported", "#!fsharp")]
    [InlineData("#!import other.dib\n1", "NotSupported", "#!import")]
    public async Task Unusable_directives_fail_the_cell_with_a_clear_error(string source, string ename, string mention)
    {
        string nbPath = Path.Combine(_out, "directive.ipynb");
        NotebookWriter.Write(nbPath, [NotebookWriter.Code("var ok = 1;"), NotebookWriter.Code(source)]);
        var r = await NotebookRunner.RunAsync(nbPath, Path.Combine(_out, "run"), _log);
        Assert.Equal(2, r.FailedCell);
        var error = Assert.Single(Notebook.Load(r.OutputNotebook).CodeCells.ElementAt(1).Outputs.OfType<JsonObject>());
        Assert.Equal(ename, error["ename"]!.GetValue<string>());
        Assert.Contains(mention, r.Error);
    }
}
