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
        var fresh = kind switch
        {
            ConnectorInitKind.PyTorchDefault => rand(w.shape, generator: gen) * (2.0 / Math.Sqrt(fanIn)) - 1.0 / Math.Sqrt(fanIn),
            _ => randn(w.shape, generator: gen) * 0.02,
        };
        w.copy_(fresh);
        if (kind == ConnectorInitKind.MatchEmbeddingNorm)
        {
            if (embeddingWeight is null || sampleVisionHidden is null)
                throw new ArgumentException("MatchEmbeddingNorm needs the embedding weight and sample vision features");
            double target = embeddingWeight.to(float32).norm(1).mean().item<float>();
            double actual = connector.forward(sampleVisionHidden.to(w.dtype)).to(float32).norm(-1).mean().item<float>();
            w.mul_(target / actual);
        }
    }
}
