using SmVL.Generation;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Generation;

/// <summary>HF's processors on hand-worked rows (values in the comments).</summary>
public class LogitsWarpersTests
{
    private static float[] Row(Tensor t) => t.data<float>().ToArray();
    private const float Inf = float.NegativeInfinity;

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeSeenLogits()
    {
        using var scores = tensor(new[] { 2f, -1f, 0.5f, -3f }).unsqueeze(0);
        using var seen = tensor(new[] { true, true, false, false }).unsqueeze(0);
        // seen: 2 / 2 = 1, -1 * 2 = -2; unseen unchanged
        Assert.Equal(new[] { 1f, -2f, 0.5f, -3f }, Row(LogitsWarpers.RepetitionPenalty(scores, seen, 2.0)));
    }

    [Fact]
    public void TopKKeepsTheKLargestAndTiesWithTheKth()
    {
        using var scores = tensor(new[] { 1f, 3f, 3f, 2f, 0f }).unsqueeze(0);
        Assert.Equal(new[] { Inf, 3f, 3f, 2f, Inf }, Row(LogitsWarpers.TopK(scores, 3)));
        // k = 1: the 1st largest is 3, and the other 3 ties with it
        Assert.Equal(new[] { Inf, 3f, 3f, Inf, Inf }, Row(LogitsWarpers.TopK(scores, 1)));
        Assert.Equal(Row(scores), Row(LogitsWarpers.TopK(scores, 99)));
    }

    [Fact]
    public void TopPDropsTheTailWhoseMassIsAtMostOneMinusP()
    {
        // probabilities 0.5, 0.3, 0.15, 0.05; ascending cumulative 0.05, 0.20, 0.50, 1.00
        using var scores = tensor(new[] { 0.5, 0.3, 0.15, 0.05 }.Select(p => (float)Math.Log(p)).ToArray()).unsqueeze(0);
        var s = Row(scores);
        // p = 0.9 drops cumulative ≤ 0.1: the 0.05 token
        Assert.Equal(new[] { s[0], s[1], s[2], Inf }, Row(LogitsWarpers.TopP(scores, 0.9)));
        // p = 0.75 drops cumulative ≤ 0.25: 0.05 and 0.15
        Assert.Equal(new[] { s[0], s[1], Inf, Inf }, Row(LogitsWarpers.TopP(scores, 0.75)));
        // p = 0.01 would drop everything; the most likely token always stays
        Assert.Equal(new[] { s[0], Inf, Inf, Inf }, Row(LogitsWarpers.TopP(scores, 0.01)));
    }

    [Fact]
    public void WarpersWorkRowByRow()
    {
        using var scores = tensor(new[,] { { 1f, 3f, 2f }, { 5f, 4f, 6f } });
        using var kept = LogitsWarpers.TopK(scores, 1);
        Assert.Equal(new[] { Inf, 3f, Inf, Inf, Inf, 6f }, Row(kept));
    }
}
