using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class VqaAccuracyTests
{
    [Theory]
    [InlineData("<think>\n\n</think>\n\n狗。", "狗")]
    [InlineData("  Dog. ", "dog")]
    [InlineData("是 ？", "是")]
    [InlineData("三只狗！！", "三只狗")]
    [InlineData("Yes, it is.", "yes, it is")]
    public void Normalize(string raw, string normalised) => Assert.Equal(normalised, VqaAccuracy.Normalize(raw));

    [Fact]
    public void ReportMatchesTheFixtureScript()
    {
        var vqa = EvalFixture.Vqa;
        var items = vqa.GetProperty("items").EnumerateArray()
            .Select(i => new VqaItem(i.GetProperty("type").GetString()!, i.GetProperty("reference").GetString()!, i.GetProperty("prediction").GetString()!))
            .ToList();
        var report = VqaAccuracy.Score(items);
        var expected = new[] { vqa.GetProperty("overall") }.Concat(vqa.GetProperty("per_type").EnumerateArray()).ToList();
        var actual = new[] { report.Overall }.Concat(report.PerType).ToList();
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.Equal(e.GetProperty("type").GetString(), a.Type);
            Assert.Equal(e.GetProperty("count").GetInt32(), a.Count);
            Assert.Equal(e.GetProperty("correct").GetInt32(), a.Correct);
            Assert.Equal(e.GetProperty("accuracy").GetDouble(), a.Accuracy, 12);
            Assert.Equal(e.GetProperty("majority_answer").GetString(), a.MajorityAnswer);
            Assert.Equal(e.GetProperty("majority_baseline").GetDouble(), a.MajorityBaseline, 12);
        }
        // by hand: animal 3/4 right (狗 after the think block, 猫！, Dog.), majority 狗 2/4
        Assert.Equal((3, 0.5), (report.PerType[0].Correct, report.PerType[0].MajorityBaseline));
    }
}
