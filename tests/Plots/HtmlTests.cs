using System.Text.RegularExpressions;
using SmVL.Plots;
using Xunit;

namespace SmVL.Tests.Plots;

/// <summary>Standalone pages and chart fragments: plotly.js inline, from Plotly.NET's assembly, and nothing fetched.</summary>
public sealed class HtmlTests
{
    /// <summary>
    /// The page carries plotly.js inline, and with that script taken out nothing is left that loads
    /// from the network (plotly.js itself names cdn.plot.ly as the default for geo maps' topojson).
    /// </summary>
    internal static void AssertOffline(string page)
    {
        Assert.Contains(Html.PlotlyScriptTag(), page);
        string rest = page.Replace(Html.PlotlyScriptTag(), "");
        Assert.DoesNotContain("<script src", rest);
        Assert.DoesNotContain("cdn.plot.ly", rest);
    }

    [Fact]
    public void Plotly_js_is_the_copy_inside_Plotly_NET()
    {
        string js = Html.PlotlyJs;
        Assert.True(js.Length > 1_000_000, $"{js.Length} characters");
        Assert.Contains($"plotly.js v{Html.PlotlyJsVersion}", js[..2000]);
        Assert.StartsWith($"<script type=\"text/javascript\" {Html.PlotlyScriptMarker}>", Html.PlotlyScriptTag());
        Assert.EndsWith("</script>", Html.PlotlyScriptTag());
        Assert.Single(Regex.Matches(Html.PlotlyScriptTag(), "</script"));
    }

    [Fact]
    public void Page_carries_plotly_once_and_chart_div_waits_for_it()
    {
        var chart = Plotly.NET.CSharp.Chart.Point<int, int, string>(x: new[] { 1 }, y: new[] { 2 });
        string div = Html.ChartDiv(chart);
        Assert.Contains("typeof Plotly !== 'undefined'", div);
        Assert.Contains(Html.NoPlotlyJs, div);
        string page = Html.StandalonePage("a <title>", ["<p>one</p>", div]);
        Assert.Contains("<title>a &lt;title&gt;</title>", page);
        Assert.True(page.IndexOf("<p>one</p>") < page.IndexOf(div));
        AssertOffline(page);
        // A part that already carries plotly.js (a notebook's first chart output) is not doubled in the head.
        string withScript = Html.StandalonePage("t", [Html.PlotlyScriptTag() + div]);
        Assert.Single(Regex.Matches(withScript, Html.PlotlyScriptMarker));
        AssertOffline(withScript);
    }
}
