using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Generation;

/// <summary>
/// HF's logits processors for generate, each on (B, vocab) float32 scores, applied by the
/// generator in HF's order: repetition penalty, then (sampling only) temperature, top-k, top-p.
/// Removed tokens get -inf, as HF's filter_value.
/// </summary>
public static class LogitsWarpers
{
    /// <summary>HF RepetitionPenaltyLogitsProcessor: a seen token's logit is divided by the penalty if positive, multiplied if negative.</summary>
    /// <param name="seen">(B, vocab) bool, true for ids already in the row's sequence</param>
    public static Tensor RepetitionPenalty(Tensor scores, Tensor seen, double penalty)
    {
        using var scope = NewDisposeScope();
        using var by = penalty.ToScalar();
        var penalised = where(scores.lt(Scalars.Zero), scores.mul(by), scores.div(by));
        return where(seen, penalised, scores).MoveToOuterDisposeScope();
    }

    public static Tensor Temperature(Tensor scores, double temperature)
    {
        using var t = temperature.ToScalar();
        return scores.div(t);
    }

    /// <summary>HF TopKLogitsWarper: drop everything below the k-th largest score (ties with it stay).</summary>
    public static Tensor TopK(Tensor scores, int k)
    {
        using var scope = NewDisposeScope();
        k = Math.Min(Math.Max(k, 1), (int)scores.shape[^1]);
        var kth = scores.topk(k).values.narrow(-1, k - 1, 1);
        return scores.masked_fill(scores.lt(kth), Scalars.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF TopPLogitsWarper: sort ascending, drop the tokens whose cumulative probability is
    /// ≤ 1 − p (the unlikely tail), always keeping the most likely token.
    /// </summary>
    public static Tensor TopP(Tensor scores, double p)
    {
        using var scope = NewDisposeScope();
        var (sorted, indices) = scores.sort(-1, descending: false);
        using var tail = (1 - p).ToScalar();
        using var keep = false.ToScalar();
        var removeSorted = sorted.softmax(-1).cumsum(-1).le(tail);
        removeSorted.narrow(-1, scores.shape[^1] - 1, 1).fill_(keep);
        var remove = removeSorted.scatter(-1, indices, removeSorted);
        return scores.masked_fill(remove, Scalars.NegativeInfinity).MoveToOuterDisposeScope();
    }
}
