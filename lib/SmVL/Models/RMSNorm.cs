using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Qwen3/Llama RMSNorm (HF `Qwen3RMSNorm`): normalise in float32, cast back to the input dtype,
/// THEN scale by a plain weight `w` (not Gemma's 1+w). TorchSharp 0.107 has no RMSNorm.
/// </summary>
public sealed class RMSNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly Scalar _eps;

    /// <summary>ε added to the mean square.</summary>
    public double Eps { get; }

    public RMSNorm(long size, double eps) : base(nameof(RMSNorm))
    {
        weight = new Parameter(ones(size));
        _eps = Scalars.Of(eps);
        Eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to(float32);
        var normed = xf * rsqrt(xf.pow(Scalars.Two).mean(new long[] { -1 }, keepdim: true).add(_eps, Scalars.One));
        return (weight * normed.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
