using System.Text.RegularExpressions;

namespace SmVL.Evaluation;

public sealed record VqaItem(string Type, string Reference, string Prediction);

/// <summary>
/// Exact-match accuracy of one group, beside the majority-class baseline: the accuracy of always
/// answering the group's most frequent (normalised) reference. A model that does not beat its
/// baseline has learnt the answer prior, not to look.
/// </summary>
public sealed record VqaGroupScore(string Type, int Count, int Correct, double Accuracy, string MajorityAnswer, double MajorityBaseline);

public sealed record VqaReport(VqaGroupScore Overall, IReadOnlyList<VqaGroupScore> PerType);

/// <summary>
/// Short-answer VQA scoring: exact match after <see cref="Normalize"/>, overall and per question
/// type, each with its majority-class baseline.
/// </summary>
public static partial class VqaAccuracy
{
    /// <summary>
    /// Drop a leading Qwen3 think block (the SmVL model answers "&lt;think&gt; &lt;/think&gt; 狗。"),
    /// trim, strip trailing punctuation (ASCII and full-width, e.g. 。！？), case-fold.
    /// </summary>
    public static string Normalize(string answer)
    {
        var s = ThinkBlock().Replace(answer, "").Trim();
        s = TrailingPunctuation().Replace(s, "").TrimEnd();
        return s.ToLowerInvariant();
    }

    public static bool Matches(string prediction, string reference) => Normalize(prediction) == Normalize(reference);

    public static VqaReport Score(IReadOnlyList<VqaItem> items)
    {
        if (items.Count == 0) throw new ArgumentException("no items");
        var perType = items.GroupBy(i => i.Type).OrderBy(g => g.Key, StringComparer.Ordinal)
                           .Select(g => Group(g.Key, g.ToList())).ToList();
        return new VqaReport(Group("all", items), perType);
    }

    private static VqaGroupScore Group(string type, IReadOnlyList<VqaItem> items)
    {
        int correct = items.Count(i => Matches(i.Prediction, i.Reference));
        // Ties go to the ordinally first answer so the report is deterministic; the baseline is the same either way.
        var majority = items.GroupBy(i => Normalize(i.Reference))
                            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First();
        return new VqaGroupScore(type, items.Count, correct, (double)correct / items.Count,
                                 majority.Key, (double)majority.Count() / items.Count);
    }

    [GeneratedRegex(@"^\s*<think>.*?</think>", RegexOptions.Singleline)]
    private static partial Regex ThinkBlock();

    [GeneratedRegex(@"[\s.。!！?？,，;；:：、…~～]+$")]
    private static partial Regex TrailingPunctuation();
}
