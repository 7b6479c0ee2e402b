using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// Σ cross-entropy of the LM head over labelled positions, a chunk of rows at a time, as a custom
/// autograd node: the forward keeps no logits; the backward recomputes each chunk's logits and
/// differentiates them with respect to the hidden rows and, when it trains, the head weight. Peak
/// memory for the head falls from N × vocab floats (three times over: logits, log-softmax, its
/// gradient) to chunk × vocab. The sum is taken chunk by chunk, so it equals the one-shot loss up to
/// float summation order.
/// </summary>
public sealed class ChunkedCrossEntropy : autograd.SingleTensorFunction<ChunkedCrossEntropy>
{
    public override string Name => nameof(ChunkedCrossEntropy);

    private const int Hidden = 0, Labels = 1, Head = 2, Model = 3, Chunk = 4;

    /// <param name="hidden">(N, hidden) final hidden states of the labelled positions</param>
    /// <param name="labels">(N) their next-token labels</param>
    /// <param name="chunk">rows per chunk</param>
    public static Tensor Sum(ICausalLM lm, Tensor hidden, Tensor labels, int chunk)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "rows per chunk must be positive");
        var head = lm.HeadWeight;
        // The head is an input only when it trains, so a frozen head gets no edge (and no gradient).
        return apply(hidden, labels, head.requires_grad ? head : null!, lm, chunk);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (hidden, labels, lm, chunk) = ((Tensor)vars[Hidden], (Tensor)vars[Labels], (ICausalLM)vars[Model], (int)vars[Chunk]);
        ctx.save_for_backward([hidden, labels]);
        ctx.save_data("model", lm);
        ctx.save_data("chunk", chunk);
        ctx.save_data("head_trains", vars[Head] is Tensor);
        using var scope = NewDisposeScope();
        var total = zeros(1, dtype: float32, device: hidden.device).squeeze();
        for (long start = 0; start < hidden.shape[0]; start += chunk)
        {
            using var inner = NewDisposeScope();
            long end = Math.Min(start + chunk, hidden.shape[0]);
            var logits = lm.Logits(hidden.narrow(0, start, end - start)).to(float32);
            total.add_(nn.functional.cross_entropy(logits, labels.narrow(0, start, end - start), reduction: nn.Reduction.Sum), Scalars.One);
        }
        return total.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var (hidden, labels) = (saved[0], saved[1]);
        var lm = (ICausalLM)ctx.get_data("model");
        int chunk = (int)ctx.get_data("chunk");
        bool headTrains = (bool)ctx.get_data("head_trains");
        bool hiddenGrad = hidden.requires_grad;
        var hiddenGrads = new List<Tensor>();
        Tensor? headGrad = null;
        for (long start = 0; start < hidden.shape[0]; start += chunk)
        {
            long end = Math.Min(start + chunk, hidden.shape[0]);
            var rows = hidden.narrow(0, start, end - start).detach().requires_grad_(hiddenGrad);
            var wrt = new List<Tensor>();
            if (hiddenGrad) wrt.Add(rows);
            if (headTrains) wrt.Add(lm.HeadWeight);
            IList<Tensor> grads;
            using (enable_grad())
            {
                var logits = lm.Logits(rows).to(float32);
                var loss = nn.functional.cross_entropy(logits, labels.narrow(0, start, end - start), reduction: nn.Reduction.Sum);
                grads = autograd.grad([loss], wrt, [gradOutput]);
            }
            if (hiddenGrad) hiddenGrads.Add(grads[0]);
            if (headTrains) headGrad = headGrad is null ? grads[^1] : headGrad.add_(grads[^1], Scalars.One);
        }
        var result = new List<Tensor>
        {
            hiddenGrad ? cat(hiddenGrads, 0).MoveToOuterDisposeScope() : null!,
            null!,                                                   // labels
            headTrains ? headGrad!.MoveToOuterDisposeScope() : null!,
            null!, null!,                                            // model, chunk
        };
        return result;
    }
}
