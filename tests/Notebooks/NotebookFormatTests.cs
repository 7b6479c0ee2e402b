using System.Text.Json.Nodes;
using SmVL.Experiments.Notebooks;
using SmVL.Experiments.Notebooks.Script;
using Xunit;

namespace SmVL.Tests.Notebooks;

public sealed class NotebookFormatTests
{
    private static readonly string Fixtures = Path.Combine(SmVL.Paths.RepoRoot, "tests", "fixtures", "notebooks");

    [Fact]
    public void Fixture_notebooks_pass_lint()
    {
        var files = Directory.GetFiles(Fixtures, "*.ipynb");
        Assert.NotEmpty(files);
        foreach (var f in files) Assert.Empty(NotebookLint.Check(f));
    }

    [Fact]
    public void Lint_reports_wrong_kernel_language_cell_metadata_and_outputs()
    {
        string path = Path.Combine(Path.GetTempPath(), $"smvl-lint-{Guid.NewGuid():N}.ipynb");
        var nb = NotebookWriter.Build([NotebookWriter.Code("1"), NotebookWriter.Code("2")]);
        nb["metadata"]!["kernelspec"]!["name"] = "python3";
        nb["metadata"]!.AsObject().Remove("language_info");
        var cells = nb["cells"]!.AsArray();
        cells[0]!["metadata"] = new JsonObject();
        cells[1]!["outputs"] = new JsonArray(new JsonObject { ["output_type"] = "stream", ["name"] = "stdout", ["text"] = "2" });
        File.WriteAllText(path, nb.ToJsonString());
        try
        {
            var problems = NotebookLint.Check(path);
            Assert.Equal(4, problems.Count);
            Assert.Contains(problems, p => p.Contains("kernelspec.name is \"python3\""));
            Assert.Contains(problems, p => p.Contains("language_info.name is missing"));
            Assert.Contains(problems, p => p.StartsWith("code cell 1: metadata"));
            Assert.Contains(problems, p => p.StartsWith("code cell 2: 1 committed output"));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Writer_emits_polyglot_metadata_line_arrays_and_ids()
    {
        var nb = Notebook.Parse(NotebookWriter.ToJson([NotebookWriter.Md("# T"), NotebookWriter.Code("var a = 1;\na + 1\n")]));
        Assert.Equal(5, nb.Root["nbformat_minor"]!.GetValue<int>());
        Assert.Equal(["cell-1", "cell-2"], nb.Cells.Select(c => c.Id));
        var code = nb.CodeCells.Single();
        Assert.Equal(["var a = 1;\n", "a + 1"], code.Json["source"]!.AsArray().Select(l => l!.GetValue<string>()));
        Assert.Equal("csharp", code.Language);
        Assert.Equal("csharp", code.Json["metadata"]!["polyglot_notebook"]!["kernelName"]!.GetValue<string>());
        Assert.Empty(code.Outputs);
    }

    [Fact]
    public void Missing_cell_ids_are_added_without_clashing()
    {
        var nb = Notebook.Parse("""{"nbformat":4,"nbformat_minor":4,"metadata":{},"cells":[{"cell_type":"markdown","metadata":{},"source":"a"},{"cell_type":"code","id":"cell-1","metadata":{},"source":"1","outputs":[],"execution_count":null}]}""");
        nb.EnsureCellIds();
        Assert.Equal(["cell-1-2", "cell-1"], nb.Cells.Select(c => c.Id));
        Assert.Equal(5, nb.Root["nbformat_minor"]!.GetValue<int>());
    }

    [Fact]
    public void Markdown_renders_headings_lists_code_and_escapes_html()
    {
        string html = Markdown.ToHtml("## Step *one*\n\nUse `a<b` and **bold** [link](http://x).\n\n1. first\n2. second\n\n```\n<raw>\n```");
        Assert.Contains("<h2>Step <em>one</em></h2>", html);
        Assert.Contains("<p>Use <code>a&lt;b</code> and <strong>bold</strong> <a href=\"http://x\">link</a>.</p>", html);
        Assert.Contains("<ol>\n<li>first</li>\n<li>second</li>\n</ol>", html);
        Assert.Contains("<pre><code>&lt;raw&gt;</code></pre>", html);
    }

    [Fact]
    public void Formatter_shows_sequences_as_lists_and_records_as_tables()
    {
        Assert.Equal("[1, 2, 3]", Formatter.PlainText(new[] { 1, 2, 3 }));
        var data = Formatter.Format(new[] { new Row("a<", 1), new Row("b", 2) });
        string table = Notebook.Text(data["text/html"]);
        Assert.Contains("<th>Name</th><th>Value</th>", table);
        Assert.Contains("<td>a&lt;</td><td>1</td>", table);
        Assert.Null(Formatter.Format("text")["text/html"]);
    }

    private sealed record Row(string Name, int Value);

    [Fact]
    public void Html_page_inlines_or_links_plotly_and_chart_div_waits_for_it()
    {
        var chart = Plotly.NET.CSharp.Chart.Point<int, int, string>(x: new[] { 1 }, y: new[] { 2 });
        string div = SmVL.Plots.Html.ChartDiv(chart);
        Assert.Contains("typeof Plotly !== 'undefined'", div);
        string page = SmVL.Plots.Html.StandalonePage("a <title>", ["<p>one</p>", div]);
        Assert.Contains("<title>a &lt;title&gt;</title>", page);
        Assert.True(page.IndexOf("<p>one</p>") < page.IndexOf(div));
        Assert.Contains(File.Exists(SmVL.Plots.Html.PlotlyJsCachePath) ? "plotly.js v2.28.0" : SmVL.Plots.Html.PlotlyJsCdn, page);
    }
}
