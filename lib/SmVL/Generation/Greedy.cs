using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Generation;

/// <summary>
/// The simplest decoder: prefill once, then one token at a time from the KV cache, argmax.
/// Returns the new tokens and each step's last-position logits (for parity checks).
/// </summary>
public static class Greedy
{
    public static (long[] tokens, Tensor stepLogits) Generate(ICausalLM model, Tensor promptIds, int maxNewTokens,
        Tensor? pixelValues = null, ISet<long>? eos = null)
    {
        using var _ = no_grad();
        using var cache = new KvCache(model.NumLayers);
        var tokens = new List<long>();
        var steps = new List<Tensor>();
        var input = promptIds;
        for (int i = 0; i < maxNewTokens; i++)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(input, null, cache, null, i == 0 ? pixelValues : null);
            var last = logits[0, -1].to(float32);
            long next = last.argmax().item<long>();
            steps.Add(last.unsqueeze(0).MoveToOuterDisposeScope());
            tokens.Add(next);
            if (eos?.Contains(next) == true) break;
            var nextInput = tensor(new[] { next }, device: promptIds.device).unsqueeze(0).MoveToOuterDisposeScope();
            if (!ReferenceEquals(input, promptIds)) input.Dispose();
            input = nextInput;
        }
        if (!ReferenceEquals(input, promptIds)) input.Dispose();
        var stacked = cat(steps, 0);
        foreach (var s in steps) s.Dispose();
        return (tokens.ToArray(), stacked);
    }
}
