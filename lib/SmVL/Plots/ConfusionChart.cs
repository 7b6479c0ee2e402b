using Plotly.NET;

namespace SmVL.Plots;

/// <summary>A confusion matrix as a heatmap: reference answers down, predicted answers across, the count in each cell.</summary>
public static class ConfusionChart
{
    public static GenericChart Create(IReadOnlyList<string> references, IReadOnlyList<string> predictions, int[][] counts, string title)
    {
        var z = counts.Select(r => r.Select(c => (double)c).ToArray()).ToArray();
        var text = counts.Select(r => r.Select(c => c.ToString()).ToArray()).ToArray();
        var chart = Charts.Heatmap(z, title, cellText: text, colorScale: "Blues");
        // The heatmap's axes are cell indices; name them by answer (keeping the reference rows top-down).
        chart = Charts.WithLayout(chart, "xaxis", Axis("predicted", predictions));
        return Charts.WithLayout(chart, "yaxis", new Dictionary<string, object>(Axis("reference", references)) { ["autorange"] = "reversed" });
    }

    private static Dictionary<string, object> Axis(string title, IReadOnlyList<string> labels) => new()
    {
        ["title"] = new Dictionary<string, object> { ["text"] = title },
        ["tickmode"] = "array",
        ["tickvals"] = Enumerable.Range(0, labels.Count).ToArray(),
        ["ticktext"] = labels.ToArray(),
    };
}
