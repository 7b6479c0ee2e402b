using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class RougeTests
{
    private static double F(double p, double r) => 2 * (p * r / (p + r + 1e-8));

    private static RougeScores ByCharacter(string prediction, string reference) =>
        Rouge.Sentence(ChineseSegmenter.Characters(prediction), ChineseSegmenter.Characters(reference));

    [Fact]
    public void HandWorkedCasesOnCharacters()
    {
        // "狗狗狗狗" vs "狗": distinct unigrams {狗} both sides → P = R = 1; no reference bigram → 0;
        // LCS 1 over 4 predicted, 1 reference token → P = 1/4, R = 1
        var s = ByCharacter("狗狗狗狗", "狗");
        Assert.Equal(F(1, 1), s.Rouge1.F, 15);
        Assert.Equal(0, s.Rouge2.F);
        Assert.Equal(F(0.25, 1), s.RougeL.F, 15);
        Assert.Equal(0.25, s.RougeL.Precision);

        // "图中有三只小狗。" vs "图中有三只狗。": 8 vs 7 distinct unigrams, 7 shared → P 7/8, R 7/7;
        // bigrams 7 vs 6, shared 图中 中有 有三 三只 狗。 → P 5/7, R 5/6; LCS 7 → P 7/8, R 1
        s = ByCharacter("图中有三只小狗。", "图中有三只狗。");
        Assert.Equal(F(7.0 / 8, 1), s.Rouge1.F, 15);
        Assert.Equal(F(5.0 / 7, 5.0 / 6), s.Rouge2.F, 15);
        Assert.Equal(F(7.0 / 8, 1), s.RougeL.F, 15);

        Assert.Equal(0, Rouge.Sentence("", "狗").RougeL.F);
    }

    [Fact]
    public void JiebaWordsAreTheUnits()
    {
        // jieba: 狗狗 狗狗 vs 狗 → no shared word, every score 0 (by character it was a full ROUGE-1 match)
        var s = Rouge.Sentence("狗狗狗狗", "狗");
        Assert.Equal(0, s.Rouge1.F);
        Assert.Equal(0, s.RougeL.F);
    }

    [Fact]
    public void MatchesTheFixtureScript()
    {
        foreach (var e in EvalFixture.Samples)
        {
            var s = Rouge.Sentence(e.Prediction, e.Reference);
            Assert.Equal(e.Rouge1F, s.Rouge1.F, 12);
            Assert.Equal(e.Rouge2F, s.Rouge2.F, 12);
            Assert.Equal(e.RougeLF, s.RougeL.F, 12);
        }
    }
}
