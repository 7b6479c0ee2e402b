using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// HF's `_init_weights` for models trained from scratch: Linear and Embedding weights
/// normal(0, initializer_range), biases zero, norms one. TorchSharp's defaults (kaiming Linear,
/// N(0, 1) Embedding) give a tied-head model logits in the tens before any training.
/// </summary>
public static class WeightInit
{
    public static void HfNormal(nn.Module model, double std = 0.02, long seed = 0)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        using var s = std.ToScalar();
        var gen = new TorchSharp.torch.Generator((ulong)seed, CPU);
        foreach (var (name, p) in model.named_parameters())
        {
            using var inner = NewDisposeScope();
            if (name.EndsWith("bias")) p.zero_();
            else if (name.Contains("norm") && p.dim() == 1) p.fill_(Scalars.One);
            else if (p.dim() >= 2) p.copy_(randn(p.shape, generator: gen).mul_(s));
        }
    }
}
