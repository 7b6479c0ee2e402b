using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>A stack of layers that can recompute each layer in the backward pass (HF's `gradient_checkpointing`).</summary>
public interface ICheckpointedStack
{
    /// <summary>While autograd records (training), each layer keeps only its input and runs again in the backward pass.</summary>
    bool GradientCheckpointing { get; set; }
}

/// <summary>
/// Activation checkpointing of one layer (HF's `gradient_checkpointing`: Qwen3's decoder layers,
/// SigLIP's encoder layers), as a custom autograd node: the forward runs the layer without
/// autograd and keeps only its inputs; the backward runs the layer again with autograd on and
/// back-propagates through that recomputation to the input and the layer's trainable parameters
/// (LoRA adapters, or all of them in a full fine-tune). A stack then holds one tensor
/// per layer instead of every intermediate, for one extra forward of the stack per step.
/// Recomputation is deterministic on CPU: the gradients are those of the plain path. Active
/// dropout (LoRA dropout in training) replays the CPU generator's state, as PyTorch's checkpoint does.
/// </summary>
public sealed class GradientCheckpointing : autograd.MultiTensorFunction<GradientCheckpointing>
{
    public override string Name => nameof(GradientCheckpointing);

    // Argument positions of apply(): the input, the generator state, the layer, its forward, the
    // count of further inputs, then those inputs, then the layer's trainable parameters (arguments
    // so that autograd runs the node even when x needs no gradient, e.g. the first layer of a frozen stack).
    private const int X = 0, Rng = 1, Module = 2, Run = 3, InputCount = 4, FirstInput = 5;

    /// <summary>
    /// The layer's output <paramref name="run"/>(x, inputs), checkpointed when autograd would record it.
    /// <paramref name="inputs"/> are the layer's other tensors (rotary tables, masks; none may need a
    /// gradient); <paramref name="run"/> must take every tensor from its arguments, none captured,
    /// since the backward pass calls it again after the caller's dispose scope has ended.
    /// </summary>
    public static Tensor Layer(nn.Module layer, Tensor x, Tensor?[] inputs, Func<Tensor, Tensor?[], Tensor> run)
    {
        var trainable = layer.parameters().Where(p => p.requires_grad).ToArray();
        if (!is_grad_enabled() || (!x.requires_grad && trainable.Length == 0))
            return run(x, inputs);
        Tensor? rng = null;
        if (layer.training && layer.modules().Any(m => m is Dropout))
        {
            if (x.device.type != TorchSharp.DeviceType.CPU)
                throw new NotSupportedException("gradient checkpointing with active dropout (LoRA dropout in training) replays the CPU generator only; set LoRA dropout to 0 or turn gradient_checkpointing off on " + x.device.type);
            rng = get_rng_state();
        }
        var args = new object?[FirstInput + inputs.Length + trainable.Length];
        (args[X], args[Rng], args[Module], args[Run], args[InputCount]) = (x, rng, layer, run, inputs.Length);
        inputs.CopyTo(args, FirstInput);
        trainable.CopyTo(args, FirstInput + inputs.Length);
        return apply(args!)[0];
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[X];
        int count = (int)vars[InputCount];
        var inputs = Enumerable.Range(FirstInput, count).Select(i => vars[i] as Tensor).ToArray();
        ctx.save_for_backward([x, (vars[Rng] as Tensor)!, .. inputs!]);
        ctx.save_data("layer", vars[Module]);
        ctx.save_data("run", vars[Run]);
        ctx.save_data("input_requires_grad", x.requires_grad);
        ctx.save_data("arguments", vars.Length);
        return [((Func<Tensor, Tensor?[], Tensor>)vars[Run])(x, inputs)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        var layer = (nn.Module)ctx.get_data("layer");
        var run = (Func<Tensor, Tensor?[], Tensor>)ctx.get_data("run");
        bool inputGrad = (bool)ctx.get_data("input_requires_grad");
        int arguments = (int)ctx.get_data("arguments");
        var inputs = saved.Skip(Rng + 1).Select(Present).ToArray();   // saved: x, the generator state, then the inputs
        var parameters = layer.parameters().Where(p => p.requires_grad).ToArray();
        int firstParameter = FirstInput + inputs.Length;
        if (firstParameter + parameters.Length != arguments)
            throw new InvalidOperationException($"{Name}: the layer's trainable parameters changed between forward and backward");

        var x = saved[X].detach().requires_grad_(inputGrad);
        var leaves = new List<Tensor>(parameters);
        if (inputGrad) leaves.Add(x);
        Tensor? replay = Present(saved[Rng]);
        Tensor? rngNow = replay is not null ? get_rng_state() : null;
        try
        {
            if (replay is not null) set_rng_state(replay);
            Tensor y;
            using (enable_grad()) y = run(x, inputs);
            // A backward of its own (PyTorch's reentrant checkpoint): the parameters' gradients go
            // straight into their .grad as autograd's own accumulation does. Returned instead, they
            // would be held here while autograd accumulated a copy: a second set of gradients per step.
            y.backward([gradOutputs[0]], inputs: leaves);
        }
        finally { if (rngNow is not null) set_rng_state(rngNow); }

        // One entry per apply() argument: the input's gradient; the parameters already have theirs.
        var result = new List<Tensor>(new Tensor[arguments]);
        if (inputGrad && x.grad is { } dx) result[X] = dx.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>A saved tensor, or null where null was saved.</summary>
    private static Tensor? Present(Tensor? t) => t is null || t.IsInvalid ? null : t;
}
