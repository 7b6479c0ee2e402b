using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Plots;
using SmVL.Processing;

namespace SmVL.Evaluation;

/// <summary>
/// What `eval` leaves in its output folder: predictions.jsonl (<see cref="PredictionsFile"/>),
/// metrics.json (<see cref="VqaEvalResult.ToJson"/> plus where the model and data came from) and
/// report.html: a summary table, accuracy by type beside the majority baseline, confusion
/// heatmaps for the colour and count questions, and a gallery of held-out images with answers.
/// </summary>
public static class EvalReport
{
    /// <summary>TinyWorld's closed-answer types whose confusion is worth a picture.</summary>
    public static readonly string[] ConfusionTypes = ["colour", "count"];
    public const int GallerySize = 24;

    public static void Write(string dir, VqaEvalResult result, IReadOnlyList<VqaExample> examples, string modelDir, string dataDir)
    {
        Directory.CreateDirectory(dir);
        PredictionsFile.Write(Path.Combine(dir, "predictions.jsonl"), result.Predictions);
        var metrics = result.ToJson();
        metrics["model"] = Path.GetFullPath(modelDir);
        metrics["data"] = Path.GetFullPath(dataDir);
        File.WriteAllText(Path.Combine(dir, "metrics.json"), metrics.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(dir, "report.html"), Html.StandalonePage("SmVL eval", Body(result, examples, modelDir, dataDir)), new UTF8Encoding(false));
    }

    private static IEnumerable<string> Body(VqaEvalResult r, IReadOnlyList<VqaExample> examples, string modelDir, string dataDir)
    {
        yield return "<h1>SmVL evaluation</h1>";
        yield return $"<p>model <code>{Enc(modelDir)}</code>, data <code>{Enc(dataDir)}</code>, {r.Accuracy.Overall.Count} questions in {r.Seconds:F0} s.</p>";
        yield return Summary(r);
        var groups = r.Accuracy.PerType.Prepend(r.Accuracy.Overall).ToList();
        yield return "<h2>Exact-match accuracy by question type</h2>";
        yield return Html.ChartDiv(Charts.GroupedBars(groups.Select(g => $"{g.Type} ({g.Count})"),
            [("model", groups.Select(g => g.Accuracy).ToArray()), ("majority baseline", groups.Select(g => g.MajorityBaseline).ToArray())],
            "Accuracy vs always giving the most frequent answer", yTitle: "accuracy"));
        foreach (var type in ConfusionTypes)
        {
            var rows = r.Predictions.Where(p => p.Type == type).ToList();
            if (rows.Count == 0) continue;
            var m = ConfusionMatrix.From(rows.Select(p => (p.Reference, p.Prediction)));
            yield return $"<h2>Confusion: {Enc(type)} questions</h2>";
            yield return Html.ChartDiv(ConfusionChart.Create(m.References, m.Predictions, m.Counts, $"{type}: reference (rows) vs prediction (columns), {m.Total} questions"));
        }
        yield return Gallery(r.Predictions, examples);
    }

    private static string Summary(VqaEvalResult r)
    {
        var o = r.Accuracy.Overall;
        string P(double x) => x.ToString("P1", CultureInfo.InvariantCulture);
        string F(double x) => x.ToString("F2", CultureInfo.InvariantCulture);
        var sb = new StringBuilder("<table>");
        void Row(string name, string value) => sb.Append($"<tr><th style=\"text-align:left\">{name}</th><td>{value}</td></tr>");
        Row("exact-match accuracy", $"{P(o.Accuracy)} ({o.Correct}/{o.Count})");
        Row("majority baseline", $"{P(o.MajorityBaseline)} (always \"{Enc(o.MajorityAnswer)}\")");
        Row("eval loss (per answer token)", r.EvalLoss is { } l ? $"{l.ToString("F4", CultureInfo.InvariantCulture)} over {r.EvalTokens} tokens" : "not computed");
        Row("BLEU-4 (characters)", F(r.Similarity.Bleu4));
        Row("ROUGE-1 / 2 / L (characters)", $"{F(r.Similarity.Rouge1)} / {F(r.Similarity.Rouge2)} / {F(r.Similarity.RougeL)}");
        foreach (var g in r.Accuracy.PerType) Row($"&nbsp;&nbsp;{Enc(g.Type)}", $"{P(g.Accuracy)} ({g.Correct}/{g.Count}); baseline {P(g.MajorityBaseline)}");
        return sb.Append("</table>").ToString();
    }

    private static string Gallery(IReadOnlyList<PredictionRow> rows, IReadOnlyList<VqaExample> examples)
    {
        var images = examples.ToDictionary(e => e.Id, e => e.Image);
        var cells = rows.Take(GallerySize).Select(p =>
            $"<figure style=\"display:inline-block;margin:6px;width:170px;vertical-align:top\">" +
            $"<img src=\"data:image/png;base64,{Convert.ToBase64String(ImageCodec.EncodePng(images[p.Id]))}\" style=\"width:128px;image-rendering:pixelated\"/>" +
            $"<figcaption>{Enc(p.Question)}<br/>reference: {Enc(p.Reference)}<br/>model: <b style=\"color:{(p.Correct ? "green" : "crimson")}\">{Enc(p.Prediction)}</b></figcaption></figure>");
        return $"<h2>Held-out images (first {Math.Min(GallerySize, rows.Count)})</h2><div>{string.Concat(cells)}</div>";
    }

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
