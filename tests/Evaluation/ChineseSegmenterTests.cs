using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class ChineseSegmenterTests
{
    [Fact]
    public void JiebaWordsEqualPythonJiebas()
    {
        var cases = EvalFixture.JiebaCases;
        Assert.True(cases.Count >= 40);
        foreach (var (text, words) in cases) Assert.Equal(words, ChineseSegmenter.Segment(text));
        foreach (var s in EvalFixture.Samples)
        {
            Assert.Equal(s.PredictionTokens, ChineseSegmenter.Segment(s.Prediction));
            Assert.Equal(s.ReferenceTokens, ChineseSegmenter.Segment(s.Reference));
        }
    }

    [Fact]
    public void JiebaJoinsWordsTheCharacterRuleKeepsApart()
    {
        Assert.Equal(new[] { "图中", "有", "三只", "小狗", "。" }, ChineseSegmenter.Segment("图中有三只小狗。"));
        Assert.Equal(new[] { "图", "中", "有", "三", "只", "小", "狗", "。" }, ChineseSegmenter.Characters("图中有三只小狗。"));
    }

    [Fact]
    public void CharactersCjkByCharacterLatinByWordPunctuationAlone()
    {
        Assert.Equal(new[] { "一", "只", "猫", "sitting", "on", "the", "sofa", "，", "很", "可", "爱", "！" },
                     ChineseSegmenter.Characters("一只猫 sitting on the sofa，很可爱！"));
        Assert.Equal(new[] { "GPT4o", "说", "：", "3", ".", "5", "🐕" }, ChineseSegmenter.Characters("GPT4o说：3.5 🐕"));
        Assert.Empty(ChineseSegmenter.Characters(" \t\n"));
    }

    [Fact]
    public void CharactersMatchTheFixtureScript()
    {
        foreach (var s in EvalFixture.Samples)
        {
            Assert.Equal(s.PredictionCharacters, ChineseSegmenter.Characters(s.Prediction));
            Assert.Equal(s.ReferenceCharacters, ChineseSegmenter.Characters(s.Reference));
        }
    }
}
