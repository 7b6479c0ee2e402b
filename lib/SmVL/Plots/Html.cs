using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Plotly.NET;

namespace SmVL.Plots;

/// <summary>
/// Plotly.NET charts as HTML that opens offline: chart fragments plus a standalone page with
/// plotly.js inlined. The plotly.js is the copy Plotly.NET ships inside its assembly (what its
/// <c>PlotlyJSReference.Full</c> inlines), so charts never depend on a CDN or on set-up.
/// </summary>
public static class Html
{
    /// <summary>The plotly.js release Plotly.NET generates code for and embeds.</summary>
    public const string PlotlyJsVersion = Globals.PLOTLYJS_VERSION;

    /// <summary>
    /// plotly.js as Plotly.NET embeds it. Plotly.NET reads it for <c>PlotlyJSReference.Full</c> with an
    /// internal function, so the same manifest resource is read here.
    /// </summary>
    public static string PlotlyJs => _plotlyJs.Value;
    private static readonly Lazy<string> _plotlyJs = new(() =>
    {
        string name = $"Plotly.NET.plotly-{PlotlyJsVersion}.min.js";
        using var stream = typeof(GenericChart).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Plotly.NET has no embedded resource {name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    private static readonly Regex DivId = new(@"<div id=""([0-9a-f-]+)""", RegexOptions.Compiled);
    private static readonly Regex RenderCall = new(@"(renderPlotly_[0-9a-f]+)\(\);\s*</script>", RegexOptions.Compiled);

    /// <summary>
    /// The chart's div and script (Plotly.NET's toChartHTML). Plotly.NET calls Plotly.newPlot at
    /// once, which fails where plotly.js was never loaded (a saved notebook whose first chart was
    /// re-run in the same kernel, so no output carries plotly.js), so the call is wrapped: draw with
    /// the page's Plotly, else say in the div why there is no chart.
    /// </summary>
    public static string ChartDiv(GenericChart chart)
    {
        string html = GenericChart.toChartHTML(chart);
        string id = DivId.Match(html).Groups[1].Value;
        return RenderCall.Replace(html, m =>
            $"if (typeof Plotly !== 'undefined') {{ {m.Groups[1].Value}(); }} else {{ " +
            $"document.getElementById('{id}').textContent = '{NoPlotlyJs}'; }}\n</script>",
            count: 1);
    }

    /// <summary>What a chart's div shows when its page has no plotly.js.</summary>
    public const string NoPlotlyJs = "plotly.js is not loaded on this page: restart the kernel and run the notebook again (the first chart after a kernel start carries plotly.js).";

    /// <summary>The attribute that marks <see cref="PlotlyScriptTag"/>'s element, so a page can tell whether its parts already load plotly.js.</summary>
    public const string PlotlyScriptMarker = "data-smvl-plotly-js";

    /// <summary>A &lt;script&gt; element with plotly.js inline.</summary>
    public static string PlotlyScriptTag() =>
        // An inline script ends at the first "</script", so that sequence must not appear verbatim.
        $"<script type=\"text/javascript\" {PlotlyScriptMarker}>" + PlotlyJs.Replace("</script", "<\\/script") + "</script>";

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
