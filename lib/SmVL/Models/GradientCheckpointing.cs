using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Activation checkpointing of one decoder layer (HF's `gradient_checkpointing`), as a custom
/// autograd node: the forward runs the layer without autograd and keeps only its input; the
/// backward runs the layer again with autograd on and differentiates that recomputation with
/// respect to the input and the layer's trainable parameters (LoRA adapters, or all of them in a
/// full fine-tune). A frozen stack then holds one tensor per layer instead of every intermediate,
/// for one extra forward of the stack per step. Recomputation is deterministic on CPU: the
/// gradients are those of the plain path. Active dropout (LoRA dropout in training) replays the
/// CPU generator's state, as PyTorch's checkpoint does.
/// </summary>
public sealed class GradientCheckpointing : autograd.MultiTensorFunction<GradientCheckpointing>
{
    public override string Name => nameof(GradientCheckpointing);

    // Argument positions of apply(): tensors first, then the layer, then the trainable parameters.
    private const int X = 0, Cos = 1, Sin = 2, Mask = 3, Rng = 4, Module = 5, FirstParameter = 6;

    /// <summary>The layer's output, checkpointed when autograd would record it.</summary>
    public static Tensor Layer(Qwen3DecoderLayer layer, Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        var trainable = layer.parameters().Where(p => p.requires_grad).ToArray();
        if (!is_grad_enabled() || (!x.requires_grad && trainable.Length == 0))
            return layer.forward(x, cos, sin, mask, null, 0);
        Tensor? rng = null;
        if (layer.training && layer.modules().Any(m => m is Dropout))
        {
            if (x.device.type != TorchSharp.DeviceType.CPU)
                throw new NotSupportedException("gradient checkpointing with active dropout (LoRA dropout in training) replays the CPU generator only; set LoRA dropout to 0 or turn gradient_checkpointing off on " + x.device.type);
            rng = get_rng_state();
        }
        var args = new object?[FirstParameter + trainable.Length];
        (args[X], args[Cos], args[Sin], args[Mask], args[Rng], args[Module]) = (x, cos, sin, mask, rng, layer);
        trainable.CopyTo(args, FirstParameter);
        return apply(args!)[0];
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var layer = (Qwen3DecoderLayer)vars[Module];
        ctx.save_for_backward([(Tensor)vars[X], (Tensor)vars[Cos], (Tensor)vars[Sin], (vars[Mask] as Tensor)!, (vars[Rng] as Tensor)!]);
        ctx.save_data("layer", layer);
        ctx.save_data("input_requires_grad", ((Tensor)vars[X]).requires_grad);
        ctx.save_data("arguments", vars.Length);
        return [layer.forward((Tensor)vars[X], (Tensor)vars[Cos], (Tensor)vars[Sin], vars[Mask] as Tensor, null, 0)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var layer = (Qwen3DecoderLayer)ctx.get_data("layer");
        bool inputGrad = (bool)ctx.get_data("input_requires_grad");
        int arguments = (int)ctx.get_data("arguments");
        var parameters = layer.parameters().Where(p => p.requires_grad).ToArray();
        if (FirstParameter + parameters.Length != arguments)
            throw new InvalidOperationException($"{Name}: the layer's trainable parameters changed between forward and backward");

        var x = saved[X].detach().requires_grad_(inputGrad);
        var wrt = new List<Tensor>();
        if (inputGrad) wrt.Add(x);
        wrt.AddRange(parameters);
        IList<Tensor> grads;
        Tensor? rngNow = saved[Rng] is { } replay ? get_rng_state() : null;
        try
        {
            if (saved[Rng] is { } state) set_rng_state(state);
            using (enable_grad())
            {
                var y = layer.forward(x, saved[Cos], saved[Sin], saved[Mask], null, 0);
                grads = autograd.grad([y], wrt, [gradOutputs[0]], allow_unused: true);
            }
        }
        finally { if (rngNow is not null) set_rng_state(rngNow); }

        // One entry per apply() argument; null where there is no gradient (autograd's undefined).
        var result = new List<Tensor>(new Tensor[arguments]);
        int next = 0;
        if (inputGrad) result[X] = Defined(grads[next++]);
        for (int i = 0; i < parameters.Length; i++) result[FirstParameter + i] = Defined(grads[next++]);
        foreach (var g in result) g?.MoveToOuterDisposeScope();
        return result;
    }

    private static Tensor Defined(Tensor g) => g.IsInvalid ? null! : g;
}
