using SmVL.Models;
using SmVL.Stitching;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Stitching;

public class ConnectorInitTests(ITestOutputHelper log)
{
    private static double Std(Tensor w) => w.to(float64).std().item<double>();
    private static double Mean(Tensor w) => w.to(float64).mean().item<double>();
    private static double MaxAbs(Tensor w) => w.abs().max().to(float64).item<double>();

    [Fact]
    public void PyTorchDefaultIsUniformWithinOneOverSqrtFanIn()
    {
        // The real connector: 768·4² = 12288 → 1024.
        using var c = new PixelShuffleConnector(768, 4, 1024);
        ConnectorInit.Apply(c, ConnectorInitKind.PyTorchDefault, seed: 1);
        var w = c.modality_projection.proj.weight!;
        double bound = 1 / Math.Sqrt(12288);
        log.WriteLine($"bound {bound:E4}, max|w| {MaxAbs(w):E4}, std {Std(w):E4} (uniform: {bound / Math.Sqrt(3):E4})");
        Assert.True(MaxAbs(w) <= bound);
        Assert.True(MaxAbs(w) > 0.9999 * bound);
        Assert.Equal(bound / Math.Sqrt(3), Std(w), bound / Math.Sqrt(3) * 0.01);
        Assert.True(Math.Abs(Mean(w)) < 1e-5);
    }

    [Fact]
    public void Normal002HasStdTwoHundredths()
    {
        using var c = new PixelShuffleConnector(768, 4, 1024);
        ConnectorInit.Apply(c, ConnectorInitKind.Normal002, seed: 2);
        var w = c.modality_projection.proj.weight!;
        log.WriteLine($"std {Std(w):E5}, mean {Mean(w):E3}");
        Assert.Equal(0.02, Std(w), 2e-4);
        Assert.True(Math.Abs(Mean(w)) < 1e-4);
        Assert.True(MaxAbs(w) > 0.1);   // a normal has tails beyond 5σ in 12.6M draws; a uniform would not
    }

    [Fact]
    public void InitIsDeterministicBySeed()
    {
        using var a = new PixelShuffleConnector(64, 2, 64);
        using var b = new PixelShuffleConnector(64, 2, 64);
        ConnectorInit.Apply(a, ConnectorInitKind.Normal002, seed: 5);
        ConnectorInit.Apply(b, ConnectorInitKind.Normal002, seed: 5);
        Assert.True(StitchKit.BitEqual(a.modality_projection.proj.weight!, b.modality_projection.proj.weight!));
        ConnectorInit.Apply(b, ConnectorInitKind.Normal002, seed: 6);
        Assert.False(StitchKit.BitEqual(a.modality_projection.proj.weight!, b.modality_projection.proj.weight!));
    }

    [Fact]
    public void MatchEmbeddingNormGivesImageTokensTheEmbeddingsNorm()
    {
        var model = StitchKit.Stitched(policy: null);
        var pixels = randn(new long[] { 6, 3, 32, 32 }, generator: new Generator(9, CPU));
        Stitcher.NewConnector(model, ConnectorInitKind.MatchEmbeddingNorm, seed: 3, samplePixels: pixels);
        using var _ = no_grad();
        double features = model.model.ImageFeatures(pixels.unsqueeze(1)).square().sum(-1).sqrt().mean().item<float>();
        double embeddings = model.model.text_model.embed_tokens.weight!.square().sum(-1).sqrt().mean().item<float>();
        log.WriteLine($"image-token norm {features:F5}, embedding norm {embeddings:F5}, ratio {features / embeddings:F6}");
        Assert.Equal(1.0, features / embeddings, 1e-4);
        // Without the rescale the ratio is far from 1 (so the test can tell).
        Stitcher.NewConnector(model, ConnectorInitKind.Normal002, seed: 3);
        double raw = model.model.ImageFeatures(pixels.unsqueeze(1)).square().sum(-1).sqrt().mean().item<float>();
        Assert.True(Math.Abs(raw / embeddings - 1) > 0.05, $"raw ratio {raw / embeddings}");
        Assert.Throws<ArgumentException>(() => Stitcher.NewConnector(model, ConnectorInitKind.MatchEmbeddingNorm, seed: 3));
    }
}
