using SmVL.Plots;
using Xunit;

namespace SmVL.Tests.Plots;

/// <summary>
/// The cost model's matmul terms against the real modules: a weight matrix costs 2 FLOPs per
/// element per token in the forward pass, so the vision term must be 2 × (the vision tower's
/// matrices) per patch plus attention, the connector 4 × its weight per image token (forward +
/// weight gradient), and the Qwen3 term 4 × the decoder's matrices per token plus attention
/// (forward + input gradient). Parameter counts come from the full-size model built on meta.
/// </summary>
[Collection("DefaultDevice")]
public sealed class TrainingCostTests
{
    private static long Matrices(string prefix) => Probes.Qwen3SmVLOnMeta().named_parameters()
        .Where(p => p.name.StartsWith(prefix) && p.parameter.dim() >= 2 && !p.name.Contains("position_embedding"))
        .Sum(p => p.parameter.numel());

    [Fact]
    public void Matmul_terms_are_two_flops_per_weight_per_token()
    {
        var c = Probes.Qwen3SmVLConfig;
        var v = c.VisionConfig;
        var t = c.TextConfig;

        var one = TrainingCost.PerSample(c, crops: 1, sequenceLength: 1);
        double visionAttention = v.NumHiddenLayers * 4.0 * v.NumPatches * v.HiddenSize;
        Assert.Equal(v.NumPatches * (2.0 * Matrices("model.vision_model.") + visionAttention), one.Vision, 1e-9 * one.Vision);
        Assert.Equal(4.0 * 12288 * 1024 * 64, one.Connector);
        Assert.Equal(4.0 * 151936 * 1024, one.Head);

        // Language(T) / T = 4·W + 6·L·q·T (causal attention reads T/2 keys): two lengths separate the terms.
        var two = TrainingCost.PerSample(c, crops: 1, sequenceLength: 2);
        double linear = 2 * one.Language - two.Language / 2, perToken = two.Language / 2 - one.Language;
        Assert.Equal(4.0 * Matrices("model.text_model.layers."), linear, 1e-9 * linear);
        Assert.Equal(6.0 * t.NumHiddenLayers * t.NumAttentionHeads * t.HeadDim, perToken, 1e-9 * perToken);
    }

    [Fact]
    public void The_blogs_sample_costs_about_nine_teraflop()
    {
        // 13 crops, 2048 tokens: ≈ 2.8 vision + 0.04 connector + 5.1 Qwen3 layers + 1.3 head.
        var s = TrainingCost.PerSample(Probes.Qwen3SmVLConfig, crops: 13, sequenceLength: 2048);
        Assert.InRange(s.Total / 1e12, 8.5, 10.0);
        Assert.True(s.Connector < 0.01 * s.Total, "the connector is a sliver of the compute");
        Assert.Equal(s.Total * 6400 / 1e12, TrainingCost.Seconds(s, 6400, 1e12), 1e-6);
        Assert.Equal("20 min", TrainingCost.Readable(1200));
        Assert.Equal("15 days", TrainingCost.Readable(15 * 86400));
    }
}
