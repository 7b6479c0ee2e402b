namespace SmVL.Evaluation;

/// <summary>
/// Counts of (reference, prediction) pairs for one closed-answer question type, both normalised
/// (<see cref="VqaAccuracy.Normalize"/>): rows are the reference answers, columns the same answers
/// plus <see cref="Other"/> for predictions outside that set (a model that answers a colour
/// question with a count shows up there).
/// </summary>
public sealed record ConfusionMatrix(IReadOnlyList<string> References, IReadOnlyList<string> Predictions, int[][] Counts)
{
    public const string Other = "(other)";

    public int Total => Counts.Sum(r => r.Sum());

    public static ConfusionMatrix From(IEnumerable<(string Reference, string Prediction)> pairs)
    {
        var list = pairs.Select(p => (Ref: VqaAccuracy.Normalize(p.Reference), Pred: VqaAccuracy.Normalize(p.Prediction))).ToList();
        var labels = list.Select(p => p.Ref).Distinct().Order(StringComparer.Ordinal).ToList();
        var columns = list.Any(p => !labels.Contains(p.Pred)) ? labels.Append(Other).ToList() : labels;
        var counts = labels.Select(_ => new int[columns.Count]).ToArray();
        foreach (var (r, p) in list)
        {
            int col = labels.IndexOf(p);
            counts[labels.IndexOf(r)][col >= 0 ? col : columns.Count - 1]++;
        }
        return new ConfusionMatrix(labels, columns, counts);
    }
}
