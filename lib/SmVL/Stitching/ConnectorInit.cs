using SmVL.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Stitching;

/// <summary>How the fresh connector Linear is initialised (the blog used PyTorch's default).</summary>
public enum ConnectorInitKind
{
    /// <summary>nn.Linear's default: kaiming-uniform(a=√5) = U(−1/√fan_in, 1/√fan_in). What Qwen3-SmVL did.</summary>
    PyTorchDefault,
    /// <summary>normal(0, 0.02), HF's `_init_weights` with initializer_range 0.02.</summary>
    Normal002,
    /// <summary>normal, then scaled so connector outputs have the mean L2 norm of the LM's token embeddings.</summary>
    MatchEmbeddingNorm,
}

public static class ConnectorInit
{
    /// <summary>Names used in experiment files: "pytorch-default", "normal-0.02", "match-embedding-norm".</summary>
    public static ConnectorInitKind Parse(string s) => s.ToLowerInvariant() switch
    {
        "pytorch-default" or "pytorchdefault" or "default" => ConnectorInitKind.PyTorchDefault,
        "normal-0.02" or "normal002" or "normal" => ConnectorInitKind.Normal002,
        "match-embedding-norm" or "matchembeddingnorm" => ConnectorInitKind.MatchEmbeddingNorm,
        _ => throw new ArgumentException($"unknown connector init '{s}' (pytorch-default, normal-0.02, match-embedding-norm)"),
    };

    public static string Name(ConnectorInitKind kind) => kind switch
    {
        ConnectorInitKind.PyTorchDefault => "pytorch-default",
        ConnectorInitKind.Normal002 => "normal-0.02",
        ConnectorInitKind.MatchEmbeddingNorm => "match-embedding-norm",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>
    /// Re-initialise <paramref name="connector"/>'s projection in place, deterministically from
    /// <paramref name="seed"/>. <paramref name="sampleVisionHidden"/> (N, P, Dv) is needed for
    /// <see cref="ConnectorInitKind.MatchEmbeddingNorm"/>.
    /// </summary>
    public static void Apply(PixelShuffleConnector connector, ConnectorInitKind kind, long seed,
                             Tensor? embeddingWeight = null, Tensor? sampleVisionHidden = null)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var w = connector.modality_projection.proj.weight!;
        var gen = new torch.Generator((ulong)seed, CPU);
        long fanIn = w.shape[1];
        using var width = (2.0 / Math.Sqrt(fanIn)).ToScalar();
        using var bound = (1.0 / Math.Sqrt(fanIn)).ToScalar();
        using var std = 0.02.ToScalar();
        var fresh = kind switch
        {
            ConnectorInitKind.PyTorchDefault => rand(w.shape, generator: gen).mul_(width).sub_(bound),
            _ => randn(w.shape, generator: gen).mul_(std),
        };
        w.copy_(fresh);
        if (kind == ConnectorInitKind.MatchEmbeddingNorm)
        {
            if (embeddingWeight is null || sampleVisionHidden is null)
                throw new ArgumentException("MatchEmbeddingNorm needs the embedding weight and sample vision features");
            double target = embeddingWeight.to(float32).pow(Scalars.Two).sum(-1).sqrt().mean().item<float>();
            double actual = connector.forward(sampleVisionHidden.to(w.dtype)).to(float32).pow(Scalars.Two).sum(-1).sqrt().mean().item<float>();
            using var ratio = (target / actual).ToScalar();
            w.mul_(ratio);
        }
    }
}
