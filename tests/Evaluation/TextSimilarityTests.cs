using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class TextSimilarityTests
{
    [Fact]
    public void CorpusMeansOfRoundedPercentagesMatchTheFixtureScript()
    {
        var samples = EvalFixture.Samples;
        var scores = TextSimilarity.Compute(samples.Select(s => (s.Prediction, s.Reference)));
        var expected = EvalFixture.CorpusPercent;
        Assert.Equal(samples.Count, scores.Count);
        Assert.Equal(expected.GetProperty("bleu4").GetDouble(), scores.Bleu4, 9);
        Assert.Equal(expected.GetProperty("rouge1").GetDouble(), scores.Rouge1, 9);
        Assert.Equal(expected.GetProperty("rouge2").GetDouble(), scores.Rouge2, 9);
        Assert.Equal(expected.GetProperty("rougeL").GetDouble(), scores.RougeL, 9);
    }
}
