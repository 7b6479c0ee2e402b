using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// HF's ForCausalLMLoss, summed: logits at position t predict label t+1; −100 is ignored; CE in
/// float32. Only labelled positions go through the LM head, so the (T × vocab) logits of
/// unlabelled positions (image tokens, padding, masked prompt) are never materialised; with a
/// chunk size, not even the labelled ones all at once (<see cref="ChunkedCrossEntropy"/>).
/// </summary>
public static class CausalLMLoss
{
    /// <summary>Sum of token cross-entropies over labelled positions (divide by the accumulated token count).</summary>
    /// <param name="chunk">labelled positions per chunk through the head (0: all at once)</param>
    public static Tensor Sum(ICausalLM model, Batch b, int chunk = 0)
    {
        using var scope = NewDisposeScope();
        var hidden = model.Hidden(b.InputIds, b.PixelValues, b.AttentionMask);          // (B, T, H)
        var h = hidden[.., ..^1];
        var y = b.Labels[.., 1..];
        var keep = y.ne(Scalars.IgnoreIndex);
        var loss = chunk > 0
            ? ChunkedCrossEntropy.Sum(model, h[keep], y[keep], chunk)
            : nn.functional.cross_entropy(model.Logits(h[keep]).to(float32), y[keep], reduction: nn.Reduction.Sum);   // logits (N, vocab)
        return loss.MoveToOuterDisposeScope();
    }
}
