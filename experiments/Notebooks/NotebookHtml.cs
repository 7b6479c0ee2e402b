using System.Net;
using System.Text;
using Markdig;
using Microsoft.DotNet.Interactive.Documents;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// An executed notebook as one standalone HTML page: prose, code and the kernel's outputs in order.
/// The first chart output already carries plotly.js (<see cref="SmVL.Interactive.KernelHooks"/>), so
/// the page opens offline.
/// </summary>
public static class NotebookHtml
{
    /// <summary>
    /// CommonMark plus pipe tables, with raw HTML shown as text: prose that names tags such as
    /// &lt;image&gt; outside a code span shows them instead of hiding them in the page's DOM.
    /// </summary>
    public static readonly MarkdownPipeline Prose = new MarkdownPipelineBuilder().UsePipeTables().DisableHtml().Build();

    public static string Render(ExecutedNotebook nb, string title)
    {
        var parts = new List<string>();
        foreach (var cell in nb.Document.Elements)
        {
            if (cell.KernelName == "markdown") { parts.Add("<div class=\"md\">" + Markdown.ToHtml(cell.Contents, Prose) + "</div>"); continue; }
            var sb = new StringBuilder("<div class=\"cell\">");
            sb.Append("<pre class=\"code\">").Append(Enc(cell.Contents)).Append("</pre>");
            foreach (var o in cell.Outputs) sb.Append(Output(o));
            parts.Add(sb.Append("</div>").ToString());
        }
        return SmVL.Plots.Html.StandalonePage(title, parts);
    }

    private static string Output(InteractiveDocumentOutputElement o) => o switch
    {
        TextElement t => $"<pre class=\"{Enc(t.Name ?? "stdout")}\">{Enc(t.Text)}</pre>",
        ErrorElement e => "<pre class=\"error\">" + Enc($"{e.ErrorName}: {e.ErrorValue}\n" + string.Join("\n", e.StackTrace ?? [])) + "</pre>",
        _ when ExecutedNotebook.Data(o) is { } d =>
            d.TryGetValue("text/html", out var html) ? "<div class=\"html\">" + ExecutedNotebook.Text(html) + "</div>"
            : d.TryGetValue("image/png", out var png) ? $"<img src=\"data:image/png;base64,{ExecutedNotebook.Text(png).Replace("\n", "")}\">"
            : d.TryGetValue("text/plain", out var plain) ? "<pre class=\"result\">" + Enc(ExecutedNotebook.Text(plain)) + "</pre>"
            : "",
        _ => "",
    };

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
