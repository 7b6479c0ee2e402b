using Plotly.NET;
using Microsoft.FSharp.Core;
using Plotly.NET.CSharp;
using Chart = Plotly.NET.CSharp.Chart;

namespace SmVL.Plots;

/// <summary>
/// The few chart shapes the notebooks draw, with titles and axis labels in one call, so a notebook
/// cell stays one line of intent instead of a screen of Plotly.NET generics.
/// </summary>
public static partial class Charts
{
    /// <summary>One bar per label, the value printed on the bar.</summary>
    public static GenericChart Bars(IEnumerable<string> labels, IEnumerable<double> values, string title,
                                    string? yTitle = null, string? xTitle = null, string? valueFormat = null)
    {
        var v = values.ToArray();
        var chart = Chart.Column<double, string, string>(values: v, Keys: labels.ToArray(),
            MultiText: v.Select(x => x.ToString(valueFormat ?? "G4", System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            ShowLegend: false);
        return Style(chart, title, xTitle, yTitle);
    }

    /// <summary>Side-by-side bars: one series (legend entry) per entry, same labels for all; values on hover.</summary>
    public static GenericChart GroupedBars(IEnumerable<string> labels, IEnumerable<(string Name, double[] Values)> series,
                                           string title, string? yTitle = null, string? xTitle = null)
    {
        var keys = labels.ToArray();
        var chart = Chart.Combine(series.Select(s =>
            Chart.Column<double, string, string>(values: s.Values, Keys: keys, Name: s.Name)));
        return Style(chart, title, xTitle, yTitle);
    }

    /// <summary>Bars stacked on top of each other (a budget split into parts).</summary>
    public static GenericChart StackedBars(IEnumerable<string> labels, IEnumerable<(string Name, double[] Values)> series,
                                           string title, string? yTitle = null, string? xTitle = null,
                                           double? limit = null, string? limitLabel = null)
    {
        var keys = labels.ToArray();
        var chart = Chart.Combine(series.Select(s => Chart.Column<double, string, string>(values: s.Values, Keys: keys, Name: s.Name)));
        chart = WithLayout(chart, "barmode", "stack");
        if (limit is { } y) chart = WithLimit(chart, y, limitLabel);
        return Style(chart, title, xTitle, yTitle);
    }

    /// <summary>
    /// A heatmap with row 0 at the top (picture order); <paramref name="cellText"/> writes a label in
    /// every cell (tile names, token indices).
    /// </summary>
    public static GenericChart Heatmap(double[][] z, string title, string? xTitle = null, string? yTitle = null,
                                       string[][]? cellText = null, string colorScale = "Viridis")
    {
        int cols = z.Length == 0 ? 0 : z[0].Length;
        var chart = Chart.Heatmap<double, int, int, string>(zData: z,
            X: Enumerable.Range(0, cols).ToArray(), Y: Enumerable.Range(0, z.Length).ToArray(),
            ColorScale: StyleParam.Colorscale.NewCustom(Scale(colorScale)), ReverseYAxis: true, ShowScale: cellText is null);
        if (cellText is not null)
            chart = GenericChart.mapTrace(FuncConvert.FromFunc<Trace, Trace>(t => { t.SetProperty("texttemplate", "%{text}"); t.SetProperty("text", cellText); return t; }), chart);
        return Style(chart, title, xTitle, yTitle, width: 640, height: 560);
    }

    /// <summary>Overlaid histograms, one per series, normalised to probability so sizes don't matter.</summary>
    public static GenericChart Histograms(IEnumerable<(string Name, double[] Values)> series, string title,
                                          string? xTitle = null, int bins = 40)
    {
        var chart = Chart.Combine(series.Select(s =>
            Chart.Histogram<double, double, string>(X: s.Values, Name: s.Name, Opacity: 0.6, NBinsX: bins,
                HistNorm: StyleParam.HistNorm.Probability)));
        return Style(WithLayout(chart, "barmode", "overlay"), title, xTitle, "fraction");
    }

    private static GenericChart Style(GenericChart chart, string title, string? xTitle, string? yTitle, int width = 820, int height = 460)
    {
        chart = chart.WithSize(width, height);
        chart = WithLayout(chart, "title", new Dictionary<string, object> { ["text"] = title });
        if (xTitle is not null) chart = chart.WithXAxisStyle<double, double, string>(TitleText: xTitle);
        if (yTitle is not null) chart = chart.WithYAxisStyle<double, double, string>(TitleText: yTitle);
        return chart;
    }

    /// <summary>
    /// A dashed line across the plot (a budget, a cut-off), labelled: horizontal at y = <paramref name="at"/>,
    /// or vertical at x = <paramref name="at"/> when <paramref name="vertical"/> (a limit on a histogram's values).
    /// </summary>
    public static GenericChart WithLimit(GenericChart chart, double at, string? label = null, bool vertical = false)
    {
        var line = vertical
            ? new Dictionary<string, object> { ["type"] = "line", ["yref"] = "paper", ["y0"] = 0, ["y1"] = 1, ["x0"] = at, ["x1"] = at }
            : new Dictionary<string, object> { ["type"] = "line", ["xref"] = "paper", ["x0"] = 0, ["x1"] = 1, ["y0"] = at, ["y1"] = at };
        line["line"] = new Dictionary<string, object> { ["color"] = "#d62728", ["width"] = 2, ["dash"] = "dash" };
        chart = WithLayout(chart, "shapes", new[] { line });
        if (label is null) return chart;
        var note = vertical
            ? new Dictionary<string, object> { ["yref"] = "paper", ["y"] = 1, ["yanchor"] = "top", ["x"] = at, ["xanchor"] = "right" }
            : new Dictionary<string, object> { ["xref"] = "paper", ["x"] = 1, ["xanchor"] = "right", ["y"] = at, ["yanchor"] = "bottom" };
        note["showarrow"] = false;
        note["text"] = label;
        note["font"] = new Dictionary<string, object> { ["color"] = "#d62728" };
        return WithLayout(chart, "annotations", new[] { note });
    }

    /// <summary>Two texts in preformatted columns side by side (template renders, before/after), as HTML.</summary>
    public static string SideBySide(string leftTitle, string left, string rightTitle, string right)
    {
        static string Col(string title, string text) =>
            $"<td style=\"vertical-align:top;width:50%\"><b>{System.Net.WebUtility.HtmlEncode(title)}</b>" +
            $"<pre style=\"white-space:pre-wrap;word-break:break-all\">{System.Net.WebUtility.HtmlEncode(text)}</pre></td>";
        return $"<table style=\"width:100%;table-layout:fixed\"><tr>{Col(leftTitle, left)}{Col(rightTitle, right)}</tr></table>";
    }

    /// <summary>Set one top-level layout property (plotly.js name), keeping the rest.</summary>
    public static GenericChart WithLayout(GenericChart chart, string property, object value)
    {
        var layout = GenericChart.getLayout(chart);
        layout.SetProperty(property, value);
        return GenericChart.setLayout(layout, chart);
    }

    private static IEnumerable<Tuple<double, Color>> Scale(string name) => name switch
    {
        "Blues" => [Tuple.Create(0.0, Color.fromString("#f7fbff")), Tuple.Create(1.0, Color.fromString("#08306b"))],
        _ => [Tuple.Create(0.0, Color.fromString("#440154")), Tuple.Create(0.5, Color.fromString("#21918c")), Tuple.Create(1.0, Color.fromString("#fde725"))],
    };
}
