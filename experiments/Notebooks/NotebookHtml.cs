using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Documents;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// An executed notebook as one standalone HTML page: prose, code and the kernel's outputs in order.
/// The first chart output already carries plotly.js (<see cref="SmVL.Interactive.KernelHooks"/>), so
/// the page opens offline.
/// </summary>
public static class NotebookHtml
{
    public static string Render(ExecutedNotebook nb, string title)
    {
        var parts = new List<string>();
        foreach (var cell in nb.Document.Elements)
        {
            if (cell.KernelName == "markdown") { parts.Add("<div class=\"md\">" + Markdown.ToHtml(cell.Contents) + "</div>"); continue; }
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

/// <summary>
/// Just enough Markdown for notebook prose: ATX headings, paragraphs, bullet and numbered lists,
/// fenced code, and inline code, bold, italics and links. Anything else shows as text.
/// </summary>
public static class Markdown
{
    private static readonly Regex Heading = new(@"^(#{1,6})\s+(.*?)\s*#*\s*$");
    private static readonly Regex Bullet = new(@"^\s*[-*+]\s+(.*)$");
    private static readonly Regex Numbered = new(@"^\s*\d+[.)]\s+(.*)$");
    private static readonly Regex InlineToken = new(@"`([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|\[([^\]]+)\]\(([^)\s]+)\)");

    public static string ToHtml(string markdown)
    {
        var html = new StringBuilder();
        var para = new List<string>();
        string? list = null; // "ul" or "ol" while inside a list
        void EndPara() { if (para.Count > 0) { html.Append("<p>").Append(Inline(string.Join(" ", para))).Append("</p>\n"); para.Clear(); } }
        void EndList() { if (list is not null) { html.Append($"</{list}>\n"); list = null; } }

        var lines = markdown.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.TrimStart().StartsWith("```"))
            {
                EndPara(); EndList();
                var code = new List<string>();
                for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith("```"); i++) code.Add(lines[i]);
                html.Append("<pre><code>").Append(WebUtility.HtmlEncode(string.Join("\n", code))).Append("</code></pre>\n");
            }
            else if (Heading.Match(line) is { Success: true } h)
            {
                EndPara(); EndList();
                int level = h.Groups[1].Length;
                html.Append($"<h{level}>").Append(Inline(h.Groups[2].Value)).Append($"</h{level}>\n");
            }
            else if ((Bullet.Match(line) is { Success: true } b ? ("ul", b) : Numbered.Match(line) is { Success: true } n ? ("ol", n) : (null, null)) is (string kind, Match item))
            {
                EndPara();
                if (list != kind) { EndList(); html.Append($"<{kind}>\n"); list = kind; }
                html.Append("<li>").Append(Inline(item.Groups[1].Value)).Append("</li>\n");
            }
            else if (line.Trim().Length == 0) { EndPara(); EndList(); }
            else if (list is not null && char.IsWhiteSpace(line[0])) html.Insert(html.Length - "</li>\n".Length, " " + Inline(line.Trim()));
            else { EndList(); para.Add(line.Trim()); }
        }
        EndPara(); EndList();
        return html.ToString();
    }

    /// <summary>Inline markup; text between tokens is HTML-encoded, code spans are not parsed further.</summary>
    private static string Inline(string text)
    {
        var sb = new StringBuilder();
        int at = 0;
        foreach (Match m in InlineToken.Matches(text))
        {
            sb.Append(WebUtility.HtmlEncode(text[at..m.Index]));
            if (m.Groups[1].Success) sb.Append("<code>").Append(WebUtility.HtmlEncode(m.Groups[1].Value)).Append("</code>");
            else if (m.Groups[2].Success) sb.Append("<strong>").Append(Inline(m.Groups[2].Value)).Append("</strong>");
            else if (m.Groups[3].Success) sb.Append("<em>").Append(Inline(m.Groups[3].Value)).Append("</em>");
            else sb.Append("<a href=\"").Append(WebUtility.HtmlEncode(m.Groups[5].Value)).Append("\">").Append(Inline(m.Groups[4].Value)).Append("</a>");
            at = m.Index + m.Length;
        }
        return sb.Append(WebUtility.HtmlEncode(text[at..])).ToString();
    }
}
