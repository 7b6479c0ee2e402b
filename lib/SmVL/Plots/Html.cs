using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Plotly.NET;

namespace SmVL.Plots;

/// <summary>
/// Plotly.NET charts as HTML that opens offline: chart fragments plus a standalone page with
/// plotly.js inlined from the npm cache (<c>build/setup.sh</c> fetches plotly.js-dist-min into
/// <c>.cache/npm/plotly</c>). Without the cache the page points at the CDN and says so on stderr.
/// </summary>
public static class Html
{
    /// <summary>The plotly.js release Plotly.NET 6.0.0 generates code for (its embedded copy and CDN URL).</summary>
    public const string PlotlyJsVersion = "2.28.0";
    public static string PlotlyJsCdn => $"https://cdn.plot.ly/plotly-{PlotlyJsVersion}.min.js";
    public static string PlotlyJsCachePath => Path.Combine(Paths.Npm("plotly"), "plotly.min.js");

    private static readonly Regex RenderCall = new(@"(renderPlotly_[0-9a-f]+)\(\);\s*</script>", RegexOptions.Compiled);
    private static int _warned;

    /// <summary>
    /// The chart's div and script (Plotly.NET's toChartHTML). Plotly.NET calls Plotly.newPlot at
    /// once, which fails where plotly.js was never loaded (a notebook output viewed in VS Code or
    /// Jupyter), so the call is wrapped: use the page's Plotly if present, else load it from the CDN.
    /// </summary>
    public static string ChartDiv(GenericChart chart)
    {
        string html = GenericChart.toChartHTML(chart);
        return RenderCall.Replace(html, m =>
            $"if (typeof Plotly !== 'undefined') {{ {m.Groups[1].Value}(); }} else {{ " +
            $"var s = document.createElement('script'); s.src = '{PlotlyJsCdn}'; s.onload = {m.Groups[1].Value}; document.head.appendChild(s); }}\n</script>",
            count: 1);
    }

    /// <summary>The attribute that marks <see cref="PlotlyScriptTag"/>'s element, so a page can tell whether its parts already load plotly.js.</summary>
    public const string PlotlyScriptMarker = "data-smvl-plotly-js";

    /// <summary>A &lt;script&gt; element for plotly.js: inlined from the cache, else the CDN (with a warning on stderr).</summary>
    public static string PlotlyScriptTag()
    {
        if (File.Exists(PlotlyJsCachePath))
            // An inline script ends at the first "</script", so that sequence must not appear verbatim.
            return $"<script type=\"text/javascript\" {PlotlyScriptMarker}>" + File.ReadAllText(PlotlyJsCachePath).Replace("</script", "<\\/script") + "</script>";
        if (Interlocked.Exchange(ref _warned, 1) == 0)
            Console.Error.WriteLine($"warning: {PlotlyJsCachePath} is missing (run build/setup.sh); HTML will load plotly.js from {PlotlyJsCdn}");
        return $"<script src=\"{PlotlyJsCdn}\" charset=\"utf-8\" {PlotlyScriptMarker}></script>";
    }

    /// <summary>
    /// A complete HTML document: title, a small stylesheet, plotly.js (unless a body part already
    /// carries <see cref="PlotlyScriptTag"/>), then the body parts in order.
    /// </summary>
    public static string StandalonePage(string title, IEnumerable<string> bodyParts)
    {
        var parts = bodyParts.ToList();
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
          .Append(WebUtility.HtmlEncode(title)).Append("</title>\n<style>\n").Append(Style).Append("</style>\n")
          .Append(parts.Any(p => p.Contains(PlotlyScriptMarker)) ? "" : PlotlyScriptTag()).Append("\n</head>\n<body>\n");
        foreach (var part in parts) sb.Append(part).Append('\n');
        return sb.Append("</body>\n</html>\n").ToString();
    }

    private const string Style = """
        body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }
        pre, code { font-family: ui-monospace, monospace; font-size: 0.9em; }
        pre { background: #f6f8fa; padding: 0.6em 0.8em; overflow-x: auto; border-radius: 4px; }
        table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; }
        .cell { margin: 1.2em 0; }
        .cell > pre:not(.code) { background: #fff; border-left: 3px solid #ccd; }
        .cell > pre.stderr { border-left-color: #e8a33d; } .cell > pre.error { border-left-color: #d33; }

        """;
}
