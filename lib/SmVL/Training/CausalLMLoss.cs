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
            : HeadLoss(model, h[keep], y[keep]);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Cross-entropy summed over the rows, the head applied to at most <see cref="BlockBytes"/> of
    /// logits at a time, each block kept for its own backward pass (no recomputation). glibc serves a
    /// thread other than the process's first from 64 MB heaps and maps anything larger afresh on every
    /// allocation (unmapping it on free, which stalls the other threads; docs/performance.md, session 17).
    /// </summary>
    private static Tensor HeadLoss(ICausalLM model, Tensor rows, Tensor labels)
    {
        // Blocks of (nearly) equal size, not full blocks and a remainder of a few rows: with such a remainder a
        // tiny-world stitch came out different on one libtorch thread and on two (docs/performance.md). The loop
        // runs at least once, so no labelled row still gives a (zero) loss with a graph.
        long n = rows.shape[0], most = Math.Max(1, BlockBytes / (model.HeadWeight.shape[0] * sizeof(float)));
        long blocks = Math.Max(1, (n + most - 1) / most), block = Math.Max(1, (n + blocks - 1) / blocks);
        Tensor? total = null;
        for (long start = 0; start < n || total is null; start += block)
        {
            long count = Math.Min(block, n - start);
            var loss = nn.functional.cross_entropy(model.Logits(rows.narrow(0, start, count)).to(float32), labels.narrow(0, start, count), reduction: nn.Reduction.Sum);
            total = total is null ? loss : total.add(loss, Scalars.One);
        }
        return total;
    }

    /// <summary>Logits per block through the head (see <see cref="HeadLoss"/>).</summary>
    public const long BlockBytes = 32L << 20;
}
