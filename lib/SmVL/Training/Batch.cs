using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// One micro-batch as the processor produces it: ids/mask/labels (B, T) and pixel values
/// (B, N, 3, H, W) or null. Labels use −100 for positions that carry no loss; the shift happens in
/// the loss, as in HF.
/// </summary>
public sealed record Batch(Tensor InputIds, Tensor AttentionMask, Tensor Labels, Tensor? PixelValues) : IDisposable
{
    /// <summary>Tokens that carry loss after the shift (HF's num_items_in_batch contribution).</summary>
    public long LabelledTokens
    {
        get
        {
            using var scope = NewDisposeScope();
            return Labels[.., 1..].ne(Scalars.IgnoreIndex).sum().item<long>();
        }
    }

    public Batch To(Device device) => new(InputIds.to(device), AttentionMask.to(device), Labels.to(device), PixelValues?.to(device));

    public void Dispose()
    {
        InputIds.Dispose(); AttentionMask.Dispose(); Labels.Dispose(); PixelValues?.Dispose();
    }
}

/// <summary>
/// Deterministic batches by index: micro-batch i of a run is always the same, so a resumed run
/// sees exactly the data an uninterrupted one would (the data position is just the step). A
/// source that reads a sequence can also say where micro-batch i starts, so a checkpoint records
/// it and a resume seeks there instead of reading everything before it.
/// </summary>
public interface IBatchSource
{
    Batch Get(long microBatchIndex);

    /// <summary>Where micro-batch <paramref name="microBatchIndex"/> starts, when known cheaply (null: a resume replays from the start).</summary>
    string? PositionOf(long microBatchIndex) => null;

    /// <summary>Continue at micro-batch <paramref name="microBatchIndex"/> from what <see cref="PositionOf"/> said.</summary>
    void Seek(long microBatchIndex, string position) { }
}
