using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Additive attention masks as HF builds them: 0 where attention is allowed, finfo(dtype).min
/// where not (never -inf, so a fully padded query row stays finite, as in HF).
/// </summary>
public static class AttentionMask
{
    /// <summary>
    /// Causal (+ key padding) mask of shape (B, 1, T, past+T), or null when plain causal attention
    /// from position 0 suffices (SDPA's fast path).
    /// </summary>
    /// <param name="keyPadding">(B, past+T) with 1 for real tokens, 0 for padding; null = no padding</param>
    public static Tensor? Causal(Tensor? keyPadding, long batch, long queryLen, long pastLen, ScalarType dtype, Device device)
    {
        bool anyPadding = keyPadding is not null && keyPadding.eq(Scalars.Zero).any().item<bool>();
        if (!anyPadding && (pastLen == 0 || queryLen == 1)) return null;
        using var scope = NewDisposeScope();
        long S = pastLen + queryLen;
        var q = Scalars.Arange(pastLen, S, device: device).unsqueeze(1);   // (T, 1) absolute query positions
        var k = Scalars.Arange(0, S, device: device).unsqueeze(0);         // (1, S)
        var allowed = k.le(q).unsqueeze(0).unsqueeze(0).expand(batch, 1, queryLen, S);
        if (anyPadding) allowed = allowed.logical_and(keyPadding!.to(device).ne(Scalars.Zero).view(batch, 1, 1, S));
        return FromAllowed(allowed, dtype).MoveToOuterDisposeScope();
    }

    /// <summary>Bidirectional key-padding mask (B, 1, 1, S) for the vision tower's patch mask.</summary>
    public static Tensor Padding(Tensor keyValid, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var allowed = keyValid.ne(Scalars.Zero).view(keyValid.shape[0], 1, 1, keyValid.shape[1]);
        return FromAllowed(allowed, dtype).MoveToOuterDisposeScope();
    }

    private static Tensor FromAllowed(Tensor allowed, ScalarType dtype)
    {
        var min = Scalars.Of(torch.finfo(dtype).min);
        return where(allowed, zeros(1, dtype: dtype, device: allowed.device), full(1, min, dtype: dtype, device: allowed.device));
    }
}
