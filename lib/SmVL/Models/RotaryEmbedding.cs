using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Rotate-half (NeoX) rotary position embedding as HF computes it: inv_freq = 1/θ^(2i/D) in
/// float32, angles = position × inv_freq, cos/sin = cat(freqs, freqs). Pairs are (i, i+D/2),
/// not interleaved.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    public Tensor InvFreq { get; }

    public RotaryEmbedding(int headDim, double theta)
    {
        using var scope = NewDisposeScope();
        var exponent = Scalars.Arange(0, headDim, 2).to(float32).div(Scalars.Of(headDim));
        InvFreq = pow(tensor((float)theta), exponent).reciprocal().DetachFromDisposeScope();
    }

    /// <summary>cos, sin of shape (B, T, D) for position ids (B, T), in float32.</summary>
    public (Tensor cos, Tensor sin) Compute(Tensor positionIds)
    {
        using var scope = NewDisposeScope();
        var inv = InvFreq.to(positionIds.device);
        var freqs = positionIds.to(float32).unsqueeze(-1) * inv;          // (B, T, D/2)
        var emb = cat(new[] { freqs, freqs }, -1);                          // (B, T, D)
        return (emb.cos().MoveToOuterDisposeScope(), emb.sin().MoveToOuterDisposeScope());
    }

    /// <summary>x * cos + rotate_half(x) * sin for x of shape (B, H, T, D); cos/sin (B, T, D).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long half = x.shape[^1] / 2;
        var x1 = x[.., .., .., ..(int)half];
        var x2 = x[.., .., .., (int)half..];
        var rotated = cat(new[] { x2.neg(), x1 }, -1);
        var c = cos.unsqueeze(1).to(x.dtype);
        var s = sin.unsqueeze(1).to(x.dtype);
        return (x * c).add(rotated * s, Scalars.One).MoveToOuterDisposeScope();
    }

    public void Dispose() => InvFreq.Dispose();
}
