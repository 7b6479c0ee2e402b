namespace SmVL.Evaluation;

public sealed record RougeScore(double Precision, double Recall, double F);

public sealed record RougeScores(RougeScore Rouge1, RougeScore Rouge2, RougeScore RougeL);

/// <summary>
/// ROUGE-1/2/L as the `rouge-chinese` package computes them for LLaMA-Factory, on segmented
/// tokens (jieba words, <see cref="ChineseSegmenter.Segment"/>). ROUGE-N counts each DISTINCT n-gram once (the
/// package's default exclusive=True sets); ROUGE-L is the plain LCS of the whole token lists;
/// F = 2PR / (P + R + 1e-8), as the package writes it. The package's sentence cutting does not
/// change the result here: it only splits between tokens, and the lists are flattened again.
/// An empty prediction or reference scores 0 (LLaMA-Factory's guard).
/// </summary>
public static class Rouge
{
    public static RougeScores Sentence(string prediction, string reference) =>
        Sentence(ChineseSegmenter.Segment(prediction), ChineseSegmenter.Segment(reference));

    public static RougeScores Sentence(IReadOnlyList<string> hypothesis, IReadOnlyList<string> reference)
    {
        if (hypothesis.Count == 0 || reference.Count == 0)
        {
            var zero = new RougeScore(0, 0, 0);
            return new RougeScores(zero, zero, zero);
        }
        return new RougeScores(N(hypothesis, reference, 1), N(hypothesis, reference, 2), L(hypothesis, reference));
    }

    private static RougeScore N(IReadOnlyList<string> hypothesis, IReadOnlyList<string> reference, int n)
    {
        var hyp = NGrams.Count(hypothesis, n).Keys.ToHashSet();
        var refs = NGrams.Count(reference, n).Keys.ToHashSet();
        int overlap = hyp.Count(refs.Contains);
        return Score(hyp.Count == 0 ? 0 : (double)overlap / hyp.Count, refs.Count == 0 ? 0 : (double)overlap / refs.Count);
    }

    private static RougeScore L(IReadOnlyList<string> hypothesis, IReadOnlyList<string> reference)
    {
        int lcs = LcsLength(reference, hypothesis);
        return Score((double)lcs / hypothesis.Count, (double)lcs / reference.Count);
    }

    private static RougeScore Score(double precision, double recall) =>
        new(precision, recall, 2.0 * (precision * recall / (precision + recall + 1e-8)));

    private static int LcsLength(IReadOnlyList<string> x, IReadOnlyList<string> y)
    {
        var previous = new int[y.Count + 1];
        var current = new int[y.Count + 1];
        for (int i = 1; i <= x.Count; i++)
        {
            for (int j = 1; j <= y.Count; j++)
                current[j] = x[i - 1] == y[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return previous[y.Count];
    }
}
