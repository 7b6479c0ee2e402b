using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SmVL.Evaluation;

/// <summary>One evaluated sample, as a line of the predictions file.</summary>
public sealed record PredictionRow(string Id, string Question, string Reference, string Prediction, bool Correct, string Type);

/// <summary>
/// Predictions as JSON Lines, one <see cref="PredictionRow"/> per line with keys id, question,
/// reference, prediction, correct, type; UTF-8 without BOM, Chinese written as is (not \u-escaped)
/// so the file reads in any editor.
/// </summary>
public static class PredictionsFile
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(string path, IEnumerable<PredictionRow> rows)
    {
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        foreach (var row in rows) writer.Write(JsonSerializer.Serialize(row, Json) + "\n");
    }

    public static IEnumerable<PredictionRow> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0)
            .Select(l => JsonSerializer.Deserialize<PredictionRow>(l, Json) ?? throw new InvalidDataException($"bad line in {path}: {l}"));
}
