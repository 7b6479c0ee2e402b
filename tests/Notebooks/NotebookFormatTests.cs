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

    private static string Prose(string notebook) =>
        NotebookHtml.Render(ExecutedNotebook.Load(Path.Combine(SmVL.Paths.RepoRoot, "notebooks", notebook)), notebook);

    [Fact]
    public void Notebook_prose_renders_its_lists_emphasis_and_code_spans()
    {
        string anatomy = Prose("01-anatomy.ipynb");
        Assert.Contains("<h1>01 · Anatomy of a stitched VLM</h1>", anatomy);
        var numbered = System.Text.RegularExpressions.Regex.Match(anatomy, "<ol>(.*?)</ol>", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.True(numbered.Success, "01-anatomy's four modules are a numbered list");
        Assert.Equal(4, System.Text.RegularExpressions.Regex.Matches(numbered.Value, "<li>").Count);
        Assert.Contains("<li><strong>vision tower</strong> — a SigLIP ViT", numbered.Value);
        Assert.Contains("<code>Linear(12288 → d_text, bias=false)</code>", numbered.Value);

        string tokenizer = Prose("02-tokenizer-surgery.ipynb");
        Assert.Contains("<li><code>&lt;|image_pad|&gt;</code> (151655) is the placeholder", tokenizer);
        Assert.Contains("(note: <em>not</em> Qwen's <code>&lt;|vision_start|&gt;</code>)", tokenizer);

        // A bullet whose text goes on over a second, indented line stays one item.
        string training = Prose("06-training.ipynb");
        Assert.Contains("<li>every image becomes <strong>13 crops</strong> (3×4 tiles + global): COCO's 640×480 and the blog's 1076×584 both do; a square image\nwould make 17;</li>", training);
    }

    [Fact]
    public void Prose_pipeline_renders_pipe_tables_and_shows_raw_html_as_text()
    {
        string html = Markdig.Markdown.ToHtml("| run | steps |\n|---|---:|\n| `cocoqa-200` | 200 |\n\nthe <image> token", NotebookHtml.Prose);
        Assert.Contains("<th>run</th>", html);
        Assert.Contains("<td><code>cocoqa-200</code></td>", html);
        Assert.Contains("<td style=\"text-align: right;\">200</td>", html);
        Assert.Contains("<p>the &lt;image&gt; token</p>", html);
    }
}
