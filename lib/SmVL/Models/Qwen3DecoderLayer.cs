using SmVL.Checkpoints;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>Pre-norm decoder block: h = x + attn(norm(x)); out = h + mlp(norm(h)).</summary>
public sealed class Qwen3DecoderLayer : nn.Module
{
    public readonly Qwen3Attention self_attn;
    public readonly Qwen3MLP mlp;
    public readonly RMSNorm input_layernorm, post_attention_layernorm;

    public Qwen3DecoderLayer(TextConfig c) : base(nameof(Qwen3DecoderLayer))
    {
        self_attn = new Qwen3Attention(c);
        mlp = new Qwen3MLP(c);
        input_layernorm = new RMSNorm(c.HiddenSize, c.RmsNormEps);
        post_attention_layernorm = new RMSNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x.add(self_attn.forward(input_layernorm.forward(x), cos, sin, mask, cache, layer), Scalars.One);
        return h.add(mlp.forward(post_attention_layernorm.forward(h)), Scalars.One).MoveToOuterDisposeScope();
    }
}
