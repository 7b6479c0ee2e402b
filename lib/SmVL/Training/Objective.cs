using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// One micro-batch's loss as the trainer needs it: <see cref="Sum"/> adds up <see cref="Items"/>
/// per-item losses (the trainer divides the step's gradients by the step's total items, HF's
/// `num_items_in_batch`); tokens and samples only feed the throughput columns.
/// </summary>
public sealed record MicroBatchLoss(Tensor Sum, long Items, long Tokens, long Samples);

/// <summary>
/// What a <see cref="Trainer"/> minimises, micro-batch by micro-batch. Micro-batch i is always the
/// same data, so a resumed run computes exactly what the uninterrupted one did.
/// </summary>
public interface IObjective
{
    /// <summary>The loss of micro-batch <paramref name="microBatchIndex"/>, built in the caller's dispose scope.</summary>
    MicroBatchLoss Loss(long microBatchIndex);

    /// <summary>Where micro-batch <paramref name="microBatchIndex"/> starts (see <see cref="IBatchSource.PositionOf"/>).</summary>
    string? PositionOf(long microBatchIndex) => null;

    void Seek(long microBatchIndex, string position) { }
}

/// <summary>The language-model objective: HF's causal-LM cross-entropy summed over the labelled tokens of each batch.</summary>
public sealed class CausalLMObjective(ICausalLM lm, IBatchSource source, int lossChunk = 0) : IObjective
{
    public MicroBatchLoss Loss(long microBatchIndex)
    {
        var b = source.Get(microBatchIndex);
        return new(CausalLMLoss.Sum(lm, b, lossChunk), b.LabelledTokens, b.AttentionMask.sum().item<long>(), b.InputIds.shape[0]);
    }

    public string? PositionOf(long microBatchIndex) => source.PositionOf(microBatchIndex);

    public void Seek(long microBatchIndex, string position) => source.Seek(microBatchIndex, position);
}
