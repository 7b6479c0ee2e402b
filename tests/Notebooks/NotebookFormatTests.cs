using SmVL.Experiments.Notebooks;
using Xunit;

namespace SmVL.Tests.Notebooks;

public sealed class NotebookFormatTests
{
    private const string CodeMeta = """{"dotnet_interactive":{"language":"csharp"},"polyglot_notebook":{"kernelName":"csharp"}}""";

    private static string Notebook(string kernel, string language, params string[] cells) =>
        $$$"""{"nbformat":4,"nbformat_minor":5,"metadata":{"kernelspec":{"name":"{{{kernel}}}"},"language_info":{"name":"{{{language}}}"}},"cells":[{{{string.Join(",", cells)}}}]}""";

    private static string Code(string source, string metadata = CodeMeta, string outputs = "[]") =>
        $$$"""{"cell_type":"code","metadata":{{{metadata}}},"source":{{{System.Text.Json.JsonSerializer.Serialize(source)}}},"outputs":{{{outputs}}},"execution_count":null}""";

    private static IReadOnlyList<string> Lint(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"smvl-lint-{Guid.NewGuid():N}.ipynb");
        File.WriteAllText(path, json);
        try { return NotebookLint.Check(path); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Lint_accepts_the_kernel_idioms()
    {
        Assert.Empty(Lint(Notebook(".net-csharp", "csharp",
            Code(NotebookLint.SmVLReference + "\nusing System.IO;\nvar p = Path.Combine(SmVL.Paths.RepoRoot, \"x\");"),
            Code("display(HTML(Gallery.Html(entries)));\nConsole.WriteLine(f(a, \"text/html\"));"))));
    }

    [Fact]
    public void Lint_reports_wrong_kernel_language_cell_metadata_and_outputs()
    {
        var problems = Lint(Notebook("python3", "python",
            Code("1", metadata: "{}"),
            Code("2", outputs: """[{"output_type":"stream","name":"stdout","text":"2"}]""")));
        Assert.Equal(4, problems.Count);
        Assert.Contains(problems, p => p.Contains("kernelspec.name is \"python3\""));
        Assert.Contains(problems, p => p.Contains("language_info.name is \"python\""));
        Assert.Contains(problems, p => p.StartsWith("code cell 1: metadata"));
        Assert.Contains(problems, p => p.StartsWith("code cell 2: 1 committed output"));
    }

    [Fact]
    public void Lint_reports_what_only_the_old_runner_provided()
    {
        var problems = Lint(Notebook(".net-csharp", "csharp",
            Code("#r \"../lib/SmVL/bin/Release/net10.0/SmVL.dll\"\n#r \"nuget: Plotly.NET.Interactive, 6.0.0\""),
            Code("var d = Path.Combine(NotebookDirectory, \"..\");"),
            Code("display(Gallery.Html(Take(f(1), 2)), \"text/html\");")));
        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("code cell 1: references SmVL.dll elsewhere"));
        Assert.Contains(problems, p => p.StartsWith("code cell 1: loads Plotly.NET.Interactive"));
        Assert.Contains(problems, p => p.StartsWith("code cell 2: uses NotebookDirectory"));
        Assert.Contains(problems, p => p.StartsWith("code cell 2: uses System.IO without"));
        Assert.Contains(problems, p => p.StartsWith("code cell 3: displays a string with \"text/html\""));
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
    public void Html_page_carries_plotly_once_and_chart_div_waits_for_it()
    {
        var chart = Plotly.NET.CSharp.Chart.Point<int, int, string>(x: new[] { 1 }, y: new[] { 2 });
        string div = SmVL.Plots.Html.ChartDiv(chart);
        Assert.Contains("typeof Plotly !== 'undefined'", div);
        string page = SmVL.Plots.Html.StandalonePage("a <title>", ["<p>one</p>", div]);
        Assert.Contains("<title>a &lt;title&gt;</title>", page);
        Assert.True(page.IndexOf("<p>one</p>") < page.IndexOf(div));
        Assert.Contains(File.Exists(SmVL.Plots.Html.PlotlyJsCachePath) ? "plotly.js v2.28.0" : SmVL.Plots.Html.PlotlyJsCdn, page);
        // A part that already carries plotly.js (a notebook's first chart output) is not doubled in the head.
        string withScript = SmVL.Plots.Html.StandalonePage("t", [SmVL.Plots.Html.PlotlyScriptTag() + div]);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(withScript, SmVL.Plots.Html.PlotlyScriptMarker));
    }
}
