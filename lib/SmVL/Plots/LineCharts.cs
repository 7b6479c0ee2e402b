using Plotly.NET;
using Plotly.NET.CSharp;
using Chart = Plotly.NET.CSharp.Chart;

namespace SmVL.Plots;

public static partial class Charts
{
    /// <summary>
    /// Curves on shared axes, one legend entry each (a value by training step, one series per run or
    /// module). <paramref name="logY"/> for quantities spanning decades (grad norms, learning rates).
    /// </summary>
    public static GenericChart Lines(IEnumerable<(string Name, double[] X, double[] Y)> series, string title,
                                     string? xTitle = null, string? yTitle = null, bool logY = false)
    {
        var chart = Chart.Combine(series.Select(s =>
        {
            if (s.X.Length != s.Y.Length) throw new ArgumentException($"series '{s.Name}': {s.X.Length} x values but {s.Y.Length} y values");
            return Chart.Line<double, double, string>(x: s.X, y: s.Y, Name: s.Name, ShowMarkers: s.X.Length < 30);
        }));
        chart = Style(chart, title, xTitle, yTitle);
        return logY ? chart.WithYAxisStyle<double, double, string>(AxisType: StyleParam.AxisType.Log) : chart;
    }
}
