using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// Σ cross-entropy of the LM head over labelled positions, a chunk of rows at a time, as a custom
/// autograd node that keeps no logits. When the loss will be differentiated, the forward pass
/// differentiates each chunk as soon as its logits exist (with respect to the hidden rows and, when
/// it trains, the head weight) and keeps only those gradients, so the head runs once per step
/// (a recomputing backward would run it twice); the backward pass scales them by the incoming
/// gradient. Peak memory for the head falls from N × vocab floats (three times over: logits,
/// log-softmax, its gradient) to chunk × vocab. The sum is taken chunk by chunk, so it equals the
/// one-shot loss up to float summation order.
/// </summary>
public sealed class ChunkedCrossEntropy : autograd.SingleTensorFunction<ChunkedCrossEntropy>
{
    public override string Name => nameof(ChunkedCrossEntropy);

    private const int Hidden = 0, Labels = 1, Head = 2, Model = 3, Chunk = 4, Differentiate = 5;

    /// <param name="hidden">(N, hidden) final hidden states of the labelled positions</param>
    /// <param name="labels">(N) their next-token labels</param>
    /// <param name="chunk">rows per chunk</param>
    public static Tensor Sum(ICausalLM lm, Tensor hidden, Tensor labels, int chunk)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), chunk, "rows per chunk must be positive");
        var head = lm.HeadWeight;
        bool differentiate = is_grad_enabled() && (hidden.requires_grad || head.requires_grad);
        // The head is an input only when it trains, so a frozen head gets no edge (and no gradient).
        return apply(hidden, labels, head.requires_grad ? head : null!, lm, chunk, differentiate);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (hidden, labels, lm, chunk) = ((Tensor)vars[Hidden], (Tensor)vars[Labels], (ICausalLM)vars[Model], (int)vars[Chunk]);
        bool differentiate = (bool)vars[Differentiate], hiddenGrad = differentiate && hidden.requires_grad;
        bool headTrains = differentiate && vars[Head] is Tensor;
        using var scope = NewDisposeScope();
        var total = zeros(1, dtype: float32, device: hidden.device).squeeze();
        var hiddenGrads = new List<Tensor>();
        Tensor? headGrad = null;
        for (long start = 0; start < hidden.shape[0]; start += chunk)
        {
            // Each chunk's logits and their graph are freed before the next chunk's exist; only its gradients move out.
            using var inner = NewDisposeScope();
            long end = Math.Min(start + chunk, hidden.shape[0]);
            var rows = hidden.narrow(0, start, end - start).detach().requires_grad_(hiddenGrad);
            using var mode = differentiate ? enable_grad() : null;
            var loss = nn.functional.cross_entropy(lm.Logits(rows).to(float32), labels.narrow(0, start, end - start), reduction: nn.Reduction.Sum);
            total.add_(loss.detach(), Scalars.One);
            if (!differentiate) continue;
            var wrt = new List<Tensor>();
            if (hiddenGrad) wrt.Add(rows);
            if (headTrains) wrt.Add(lm.HeadWeight);
            var grads = autograd.grad([loss], wrt);
            if (hiddenGrad) hiddenGrads.Add(grads[0].MoveToOuterDisposeScope());
            if (headTrains) headGrad = headGrad is null ? grads[^1].MoveToOuterDisposeScope() : headGrad.add_(grads[^1], Scalars.One);
        }
        // The context takes its references once forward has returned, so the saved gradients outlive this
        // scope; from then on the graph node holds them (and frees them with itself).
        ctx.save_for_backward([hiddenGrad ? cat(hiddenGrads, 0).MoveToOuterDisposeScope() : null!, headGrad?.MoveToOuterDisposeScope()!]);
        return total.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        Tensor? Scaled(Tensor? g) => g is null || g.IsInvalid ? null : g.mul(gradOutput).MoveToOuterDisposeScope();
        return [Scaled(saved[0])!, null!, Scaled(saved[1])!, null!, null!, null!];   // hidden, labels, head, model, chunk, differentiate
    }
}
