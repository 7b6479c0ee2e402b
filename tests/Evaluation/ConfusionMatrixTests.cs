using SmVL.Evaluation;
using Xunit;

namespace SmVL.Tests.Evaluation;

public class ConfusionMatrixTests
{
    [Fact]
    public void CountsNormalisedPairsWithOutsidersInOther()
    {
        var m = ConfusionMatrix.From([("红色", "红色。"), ("红色", "蓝色"), ("蓝色", "蓝色"), ("蓝色", "3"), ("蓝色", "<think> </think> 蓝色")]);
        Assert.Equal(["红色", "蓝色"], m.References.OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal(ConfusionMatrix.Other, m.Predictions[^1]);
        int red = m.References.ToList().IndexOf("红色"), blue = m.References.ToList().IndexOf("蓝色");
        Assert.Equal(1, m.Counts[red][red]);
        Assert.Equal(1, m.Counts[red][blue]);
        Assert.Equal(2, m.Counts[blue][blue]);
        Assert.Equal(1, m.Counts[blue][^1]);
        Assert.Equal(5, m.Total);
    }

    [Fact]
    public void NoOtherColumnWhenEveryPredictionIsAReference()
    {
        var m = ConfusionMatrix.From([("1", "2"), ("2", "1")]);
        Assert.Equal(m.References, m.Predictions);
        Assert.Equal([[0, 1], [1, 0]], m.Counts);
    }
}
