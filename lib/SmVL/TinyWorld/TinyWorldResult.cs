using System.Text.Json;
using System.Text.Json.Nodes;
using Plotly.NET;
using Plotly.NET.CSharp;
using SmVL.Plots;
using SmVL.Training;

namespace SmVL.TinyWorld;

/// <summary>The embedded default's outputs: summary.json and report.html (the blog's loss figure).</summary>
public sealed record TinyWorldResult(IReadOnlyList<TinyRunResult> Runs, double MajorityBaseline,
                                     IReadOnlyDictionary<string, double> MajorityByType, double WallSeconds, long Steps,
                                     IReadOnlyList<GalleryEntry> Gallery, JsonNode? Parents = null)
{
    public TinyRunResult? Run(string name) => Runs.FirstOrDefault(r => r.Name == name);

    public JsonObject ToJson()
    {
        var accuracy = new JsonObject { ["majority_baseline"] = MajorityBaseline };
        var byType = new JsonObject { ["majority_baseline"] = JsonSerializer.SerializeToNode(MajorityByType) };
        foreach (var r in Runs)
        {
            accuracy[r.Name] = r.Accuracy;
            byType[r.Name] = JsonSerializer.SerializeToNode(r.AccuracyByType);
        }
        var stitched = Run("stitched");
        return new JsonObject
        {
            ["accuracy"] = accuracy,
            ["accuracy_by_type"] = byType,
            ["connector_grad_norm_max_broken_frozen"] = Run("broken_frozen")?.MaxConnectorGradNorm,
            ["connector_grad_norm_max_stitched"] = stitched?.MaxConnectorGradNorm,
            ["trainable_params"] = stitched?.Trainable,
            ["total_params"] = stitched?.Total,
            ["steps"] = Steps,
            ["wall_seconds"] = WallSeconds,
            ["parents"] = Parents?.DeepClone(),
        };
    }

    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "summary.json"), ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var curves = Runs.Select(r => Plotly.NET.CSharp.Chart.Line<int, double, string>(
            x: Enumerable.Range(1, r.Losses.Count), y: r.Losses, Name: r.Name)).ToArray();
        var chart = Plotly.NET.CSharp.Chart.Combine(curves);
        var accuracy = Plotly.NET.CSharp.Chart.Column<double, string, string>(
            values: Runs.Select(r => r.Accuracy).Append(MajorityBaseline).ToArray(), Keys: Runs.Select(r => r.Name).Append("majority baseline").ToArray());
        var evalCurves = Runs.Select(r =>
        {
            var rows = MetricsLog.Read(Path.Combine(dir, r.Name)).Where(o => o["eval_loss"] is not null).ToList();
            return Plotly.NET.CSharp.Chart.Line<long, double, string>(
                x: rows.Select(o => o["step"]!.GetValue<long>()).ToArray(), y: rows.Select(o => o["eval_loss"]!.GetValue<double>()).ToArray(), Name: r.Name);
        }).ToArray();
        File.WriteAllText(Path.Combine(dir, "report.html"), Html.StandalonePage("SmVL tiny world", new[]
        {
            "<h1>SmVL tiny world</h1>",
            $"<p>{Steps} steps per run, {WallSeconds:F0} s in all (parents included when they were not cached).</p>",
            "<h2>Held-out eval loss</h2>", Html.ChartDiv(Plotly.NET.CSharp.Chart.Combine(evalCurves)),
            "<h2>Held-out images: every run's answer</h2>", Plots.Gallery.Html(Gallery),
            "<h2>Training loss by step: correct wiring vs broken wiring (the blog's figure)</h2>", Html.ChartDiv(chart),
            "<h2>Held-out exact-match accuracy</h2>", Html.ChartDiv(accuracy),
        }));
    }
}
