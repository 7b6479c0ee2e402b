namespace SmVL.Evaluation;

/// <summary>Corpus means, in percent, of the four numbers LLaMA-Factory's predict stage reports.</summary>
public sealed record SimilarityScores(double Bleu4, double Rouge1, double Rouge2, double RougeL, int Count);

/// <summary>
/// LLaMA-Factory's ComputeSimilarity: per sample, BLEU-4 (<see cref="Bleu"/>) and ROUGE-1/2/L F
/// (<see cref="Rouge"/>), each as round(100 · score, 4); the report is the plain mean of those.
/// </summary>
public static class TextSimilarity
{
    public static SimilarityScores Compute(IEnumerable<(string Prediction, string Reference)> samples)
    {
        double bleu = 0, r1 = 0, r2 = 0, rl = 0;
        int count = 0;
        foreach (var (prediction, reference) in samples)
        {
            var rouge = Rouge.Sentence(prediction, reference);
            bleu += Percent(Bleu.Sentence(prediction, reference));
            r1 += Percent(rouge.Rouge1.F);
            r2 += Percent(rouge.Rouge2.F);
            rl += Percent(rouge.RougeL.F);
            count++;
        }
        if (count == 0) throw new ArgumentException("no samples");
        return new SimilarityScores(bleu / count, r1 / count, r2 / count, rl / count, count);
    }

    private static double Percent(double score) => Math.Round(score * 100, 4, MidpointRounding.ToEven);
}
