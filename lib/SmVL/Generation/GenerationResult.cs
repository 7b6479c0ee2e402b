using static TorchSharp.torch;

namespace SmVL.Generation;

/// <summary>
/// Per prompt row: the new tokens (ending with the stop id when one was produced, never padded)
/// and, if asked for, the raw logits of each of those steps, (tokens, vocab) float32. Owns the
/// logits: dispose it, or clone what you keep.
/// </summary>
public sealed class GenerationResult(IReadOnlyList<long[]> tokens, IReadOnlyList<Tensor>? stepLogits) : IDisposable
{
    public IReadOnlyList<long[]> Tokens { get; } = tokens;
    public IReadOnlyList<Tensor>? StepLogits { get; } = stepLogits;

    public void Dispose()
    {
        if (StepLogits is null) return;
        foreach (var t in StepLogits) t.Dispose();
    }
}
