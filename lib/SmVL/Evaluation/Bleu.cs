using System.Text;

namespace SmVL.Evaluation;

/// <summary>
/// Sentence BLEU-4 as LLaMA-Factory reports it: nltk `sentence_bleu([list(label)], list(predict),
/// smoothing_function=SmoothingFunction().method3)` — over CHARACTERS (Python code points, spaces
/// included), not over the jieba words it uses for ROUGE. Uniform weights 0.25, clipped n-gram
/// precisions with denominator max(1, #hypothesis n-grams), brevity penalty against the
/// reference, and NIST geometric smoothing: the k-th zero precision becomes 1 / (2^k · denominator).
/// </summary>
public static class Bleu
{
    /// <summary>Score in [0, 1] of a prediction against one reference, character level.</summary>
    public static double Sentence(string prediction, string reference) => Sentence(Characters(prediction), Characters(reference));

    public static double Sentence(IReadOnlyList<string> hypothesis, IReadOnlyList<string> reference, int maxOrder = 4)
    {
        var precisions = new double[maxOrder];
        bool anyUnigram = false;
        int zeros = 0;
        for (int n = 1; n <= maxOrder; n++)
        {
            var hyp = NGrams.Count(hypothesis, n);
            var refCounts = NGrams.Count(reference, n);
            int matched = hyp.Sum(kv => Math.Min(kv.Value, refCounts.GetValueOrDefault(kv.Key)));
            int total = Math.Max(1, hyp.Values.Sum());
            if (n == 1) anyUnigram = matched > 0;
            precisions[n - 1] = matched > 0 ? (double)matched / total : 1.0 / (Math.Pow(2, ++zeros) * total);
        }
        if (!anyUnigram) return 0;   // nltk: no matching unigram → 0, before any smoothing
        double logSum = precisions.Sum(p => Math.Log(p) / maxOrder);
        return BrevityPenalty(reference.Count, hypothesis.Count) * Math.Exp(logSum);
    }

    private static double BrevityPenalty(int referenceLength, int hypothesisLength) =>
        hypothesisLength > referenceLength ? 1 : hypothesisLength == 0 ? 0 : Math.Exp(1 - (double)referenceLength / hypothesisLength);

    /// <summary>Python's list(str): one item per Unicode code point (an emoji is one, not two UTF-16 units).</summary>
    public static IReadOnlyList<string> Characters(string text) => text.EnumerateRunes().Select(r => r.ToString()).ToArray();
}
