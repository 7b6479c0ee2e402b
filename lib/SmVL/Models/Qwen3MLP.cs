using SmVL.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)), bias-free (HF `Qwen3MLP`/`LlamaMLP`).</summary>
public sealed class Qwen3MLP : nn.Module<Tensor, Tensor>
{
    /// <summary>Projections; mutable plain modules so <c>Stitching.Lora</c> can wrap them (see Qwen3Attention).</summary>
    public nn.Module<Tensor, Tensor> gate_proj, up_proj, down_proj;

    public Qwen3MLP(TextConfig c) : base(nameof(Qwen3MLP))
    {
        bool bias = c.MlpBias ?? false;
        gate_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: bias);
        up_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: bias);
        down_proj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: bias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gateUp = RowParallelLinear.Forward(x, gate_proj, up_proj);
        var hidden = nn.functional.silu(gateUp[0]) * gateUp[1];
        return RowParallelLinear.Forward(down_proj, hidden).MoveToOuterDisposeScope();
    }
}
