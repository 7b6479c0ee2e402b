using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class BleuTests
{
    [Fact]
    public void HandWorkedCases()
    {
        // "是的" vs itself: p1 = 2/2, p2 = 1/1, no 3-/4-grams → method3 gives 1/(2·1), 1/(4·1); BP = 1
        Assert.Equal(Math.Pow(1.0 * 1.0 * 0.5 * 0.25, 0.25), Bleu.Sentence("是的", "是的"), 12);
        // "图中有三只小狗。" vs "图中有三只狗。": p = 7/8, 5/7, 3/6, 2/5; hypothesis longer → BP = 1
        Assert.Equal(Math.Pow(7.0 / 8 * 5 / 7 * 3 / 6 * 2 / 5, 0.25), Bleu.Sentence("图中有三只小狗。", "图中有三只狗。"), 12);
        // "狗狗狗狗" vs "狗": clipped p1 = 1/4; zero p2..p4 over 3, 2, 1 hypothesis n-grams → 1/(2·3), 1/(4·2), 1/(8·1)
        Assert.Equal(Math.Pow(0.25 / 6 / 8 / 8, 0.25), Bleu.Sentence("狗狗狗狗", "狗"), 12);
        // shorter hypothesis: "狗" vs "狗狗": p1 = 1, zeros → 1/2, 1/4, 1/8; BP = exp(1 − 2/1)
        Assert.Equal(Math.Exp(-1) * Math.Pow(1.0 / 2 / 4 / 8, 0.25), Bleu.Sentence("狗", "狗狗"), 12);
        Assert.Equal(0, Bleu.Sentence("狗", "兔子"));
        Assert.Equal(0, Bleu.Sentence("", "狗"));
    }

    [Fact]
    public void CountsCodePointsNotUtf16Units()
    {
        Assert.Equal(new[] { "🐕", "a", " ", "狗" }, Bleu.Characters("🐕a 狗"));
    }

    [Fact]
    public void MatchesTheFixtureScript()
    {
        foreach (var s in EvalFixture.Samples)
            Assert.True(Math.Abs(s.Bleu4 - Bleu.Sentence(s.Prediction, s.Reference)) < 1e-12, $"{s.Prediction} / {s.Reference}");
    }
}
