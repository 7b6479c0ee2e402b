using SmVL.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Grouped-query self-attention of Qwen3 (HF `Qwen3Attention`); with q_norm/k_norm absent it is
/// Llama's. head_dim comes from the config (Qwen3-0.6B: 128 with hidden 1024, 16 heads), q/k are
/// RMS-normalised per head BEFORE RoPE, query head h reads kv head h / (nH/nKV).
/// </summary>
public sealed class Qwen3Attention : nn.Module
{
    /// <summary>
    /// Projections. Typed as plain modules (not readonly) so <c>Stitching.Lora</c> can swap a
    /// Linear for a LoRA-wrapped one and back; they are plain <see cref="Linear"/>s otherwise.
    /// </summary>
    public nn.Module<Tensor, Tensor> q_proj, k_proj, v_proj, o_proj;
    public readonly RMSNorm? q_norm, k_norm;
    private readonly int _heads, _kvHeads, _headDim;

    public Qwen3Attention(TextConfig c) : base(nameof(Qwen3Attention))
    {
        _heads = c.NumAttentionHeads; _kvHeads = c.KeyValueHeads; _headDim = c.HeadDim;
        q_proj = nn.Linear(c.HiddenSize, _heads * _headDim, hasBias: c.AttentionBias);
        k_proj = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.AttentionBias);
        v_proj = nn.Linear(c.HiddenSize, _kvHeads * _headDim, hasBias: c.AttentionBias);
        o_proj = nn.Linear(_heads * _headDim, c.HiddenSize, hasBias: c.AttentionBias);
        if (c.UsesQkNorm)
        {
            q_norm = new RMSNorm(_headDim, c.RmsNormEps);
            k_norm = new RMSNorm(_headDim, c.RmsNormEps);
        }
        RegisterComponents();
    }

    /// <param name="x">(B, T, hidden)</param>
    /// <param name="mask">additive float mask (B, 1, T, S) or null for plain causal attention</param>
    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? mask, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long B = x.shape[0], T = x.shape[1];
        var qkv = RowParallelLinear.Forward(x, q_proj, k_proj, v_proj);
        if (T == 1 && mask is null && cache is not null && DecodeAttention.Applies(qkv[0], _headDim))
        {
            var heads = DecodeAttention.Step(qkv[0], qkv[1], qkv[2], q_norm, k_norm, cos, sin, cache, layer, _heads, _kvHeads, _headDim);
            return RowParallelLinear.Forward(o_proj, heads).MoveToOuterDisposeScope();
        }
        var q = qkv[0].view(B, T, _heads, _headDim);
        var k = qkv[1].view(B, T, _kvHeads, _headDim);
        var v = qkv[2].view(B, T, _kvHeads, _headDim).transpose(1, 2);
        if (q_norm is not null) { q = q_norm.forward(q); k = k_norm!.forward(k); }
        q = RotaryEmbedding.Apply(q.transpose(1, 2), cos, sin);            // (B, H, T, D)
        k = RotaryEmbedding.Apply(k.transpose(1, 2), cos, sin);            // (B, Hkv, T, D)
        if (cache is not null) (k, v) = cache.Append(layer, k, v);
        int group = _heads / _kvHeads;
        Tensor attn;
        if (T == 1 && group > 1)
        {
            // One new token: the `group` query heads sharing a kv head become `group` queries of
            // that head, so the cached K/V are read once instead of copied group-fold
            // (decode is memory-bound). The (B, 1, 1, S) mask broadcasts over them.
            var grouped = q.reshape(B, _kvHeads, group, _headDim);
            attn = (mask is null
                ? nn.functional.scaled_dot_product_attention(grouped, k, v)
                : nn.functional.scaled_dot_product_attention(grouped, k, v, attn_mask: mask)).view(B, _heads, 1, _headDim);
        }
        else
        {
            if (group > 1)
            {
                k = k.repeat_interleave(group, dim: 1);
                v = v.repeat_interleave(group, dim: 1);
            }
            // Scale is head_dim^-0.5, SDPA's default for a last dim of head_dim.
            attn = mask is null
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: T > 1)
                : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        }
        var merged = attn.transpose(1, 2).reshape(B, T, _heads * _headDim);
        return RowParallelLinear.Forward(o_proj, merged).MoveToOuterDisposeScope();
    }
}
