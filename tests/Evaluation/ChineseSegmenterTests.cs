using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class ChineseSegmenterTests
{
    [Fact]
    public void CjkByCharacterLatinByWordPunctuationAlone()
    {
        Assert.Equal(new[] { "一", "只", "猫", "sitting", "on", "the", "sofa", "，", "很", "可", "爱", "！" },
                     ChineseSegmenter.Segment("一只猫 sitting on the sofa，很可爱！"));
        Assert.Equal(new[] { "GPT4o", "说", "：", "3", ".", "5", "🐕" }, ChineseSegmenter.Segment("GPT4o说：3.5 🐕"));
        Assert.Empty(ChineseSegmenter.Segment(" \t\n"));
    }

    [Fact]
    public void MatchesTheFixtureScript()
    {
        foreach (var s in EvalFixture.Samples)
        {
            Assert.Equal(s.PredictionTokens, ChineseSegmenter.Segment(s.Prediction));
            Assert.Equal(s.ReferenceTokens, ChineseSegmenter.Segment(s.Reference));
        }
    }
}
