using SmVL.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// SmolVLM's SigLIP vision tower (HF `SmolVLMVisionTransformer`): conv patch embedding + learned
/// position embedding → pre-LN encoder (biased attention, gelu-tanh MLP) → post_layernorm on
/// every position. No CLS token, no pooling head. Field names are HF's
/// (`vision_model.embeddings.patch_embedding`, `encoder.layers.N...`, `post_layernorm`).
/// </summary>
public sealed class VisionTransformer : nn.Module, ICheckpointedStack
{
    public readonly VisionEmbeddings embeddings;
    public readonly VisionEncoder encoder;
    public readonly LayerNorm post_layernorm;
    public VisionConfig Config { get; }

    public VisionTransformer(VisionConfig config) : base(nameof(VisionTransformer))
    {
        Config = config;
        embeddings = new VisionEmbeddings(config);
        encoder = new VisionEncoder(config);
        post_layernorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>
    /// HF's `gradient_checkpointing` of the encoder: when the tower trains (a full fine-tune), each
    /// encoder layer keeps only its input and runs again in the backward pass (<see cref="Models.GradientCheckpointing"/>).
    /// A frozen tower records nothing either way.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>
    /// (N, 3, H, W) pixels in [-1, 1] → last_hidden_state (N, P, D). <paramref name="patchAttentionMask"/>
    /// (N, h, w), 1 = valid patch, selects HF's bucketed position ids and masks padded keys; null = all valid.
    /// </summary>
    public Tensor forward(Tensor pixelValues, Tensor? patchAttentionMask = null, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        if (patchAttentionMask is not null && patchAttentionMask.logical_not().any().item<bool>() == false) patchAttentionMask = null;
        var h = embeddings.forward(pixelValues, patchAttentionMask);
        hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
        var mask = patchAttentionMask is null ? null
            : AttentionMask.Padding(patchAttentionMask.reshape(patchAttentionMask.shape[0], -1), h.dtype);
        foreach (var layer in encoder.layers)
        {
            h = GradientCheckpointing ? Checkpointed(layer, h, mask) : layer.forward(h, mask);
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
        }
        return post_layernorm.forward(h).MoveToOuterDisposeScope();
    }

    private static Tensor Checkpointed(VisionEncoderLayer layer, Tensor h, Tensor? mask) =>
        Models.GradientCheckpointing.Layer(layer, h, [mask], (x, t) => layer.forward(x, t[0]));
}

/// <summary>Patch embedding (Conv2d k=s=patch, row-major patch order) + position embedding.</summary>
public sealed class VisionEmbeddings : nn.Module
{
    public readonly Conv2d patch_embedding;
    public readonly Embedding position_embedding;
    private readonly int _patch, _perSide;

    public VisionEmbeddings(VisionConfig c) : base(nameof(VisionEmbeddings))
    {
        _patch = c.PatchSize; _perSide = c.PatchesPerSide;
        patch_embedding = nn.Conv2d(c.NumChannels, c.HiddenSize, kernel_size: c.PatchSize, stride: c.PatchSize);
        position_embedding = nn.Embedding(c.NumPatches, c.HiddenSize);
        RegisterComponents();
    }

    public Tensor forward(Tensor pixelValues, Tensor? patchAttentionMask)
    {
        using var scope = NewDisposeScope();
        var patches = patch_embedding.forward(pixelValues).flatten(2).transpose(1, 2);   // (N, P, D)
        long N = patches.shape[0], P = patches.shape[1];
        var positionIds = patchAttentionMask is null
            ? Scalars.Arange(0, P, device: pixelValues.device).unsqueeze(0).expand(N, P)
            : BucketedPositionIds(patchAttentionMask, P);
        return patches.add(position_embedding.forward(positionIds), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF's NaViT-style ids for a partially valid patch grid: fractional coordinates of the valid
    /// rows/columns bucketed into the full grid; padded patches get id 0.
    /// </summary>
    private Tensor BucketedPositionIds(Tensor patchMask, long P)
    {
        long N = patchMask.shape[0];
        var ids = zeros(N, P, dtype: int64);
        var boundaries = Range(1.0 / _perSide, 1.0, 1.0 / _perSide);
        var mask = patchMask.cpu().to(@bool);
        for (long b = 0; b < N; b++)
        {
            var m = mask[b];
            long nh = m[.., 0].sum().item<long>(), nw = m[0].sum().item<long>();
            var fh = Range(0.0, 1.0 - 1e-6, 1.0 / nh);
            var fw = Range(0.0, 1.0 - 1e-6, 1.0 / nw);
            var bh = bucketize(fh, boundaries, right: true);
            var bw = bucketize(fw, boundaries, right: true);
            var pos = bh.unsqueeze(1).mul(Scalars.Of(_perSide)).add(bw.unsqueeze(0), Scalars.One).flatten();
            ids[b].masked_scatter_(m.reshape(-1), pos);
        }
        return ids.to(patchMask.device);
    }

    // float32 arange over doubles, as HF's torch.arange(start, end, step) on Python floats.
    private static Tensor Range(double start, double stop, double step)
    {
        using var a = start.ToScalar();
        using var b = stop.ToScalar();
        using var c = step.ToScalar();
        return arange(a, b, c, dtype: float32);
    }
}

/// <summary>The stack of SigLIP encoder layers (`encoder.layers`).</summary>
public sealed class VisionEncoder : nn.Module
{
    public readonly ModuleList<VisionEncoderLayer> layers;

    public VisionEncoder(VisionConfig c) : base(nameof(VisionEncoder))
    {
        layers = new ModuleList<VisionEncoderLayer>();
        for (int i = 0; i < c.NumHiddenLayers; i++) layers.Add(new VisionEncoderLayer(c));
        RegisterComponents();
    }
}

/// <summary>Pre-LN block: x + attn(ln1(x)); x + mlp(ln2(x)).</summary>
public sealed class VisionEncoderLayer : nn.Module
{
    public readonly LayerNorm layer_norm1, layer_norm2;
    public readonly VisionAttention self_attn;
    public readonly VisionMLP mlp;

    public VisionEncoderLayer(VisionConfig c) : base(nameof(VisionEncoderLayer))
    {
        layer_norm1 = nn.LayerNorm(c.HiddenSize, eps: c.LayerNormEps);
        self_attn = new VisionAttention(c);
        layer_norm2 = nn.LayerNorm(c.HiddenSize, eps: c.LayerNormEps);
        mlp = new VisionMLP(c);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var h = x.add(self_attn.forward(layer_norm1.forward(x), mask), Scalars.One);
        return h.add(mlp.forward(layer_norm2.forward(h)), Scalars.One).MoveToOuterDisposeScope();
    }
}

/// <summary>Bidirectional multi-head attention with biases; scale (D/heads)^-0.5.</summary>
public sealed class VisionAttention : nn.Module
{
    public readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int _heads, _headDim;

    public VisionAttention(VisionConfig c) : base(nameof(VisionAttention))
    {
        _heads = c.NumAttentionHeads; _headDim = c.HiddenSize / c.NumAttentionHeads;
        q_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        k_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        v_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        out_proj = nn.Linear(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long B = x.shape[0], T = x.shape[1];
        Tensor Heads(Tensor t) => t.view(B, T, _heads, _headDim).transpose(1, 2);
        var q = Heads(q_proj.forward(x));
        var k = Heads(k_proj.forward(x));
        var v = Heads(v_proj.forward(x));
        var attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        return out_proj.forward(attn.transpose(1, 2).reshape(B, T, _heads * _headDim)).MoveToOuterDisposeScope();
    }
}

/// <summary>fc1 → gelu (tanh approximation, `gelu_pytorch_tanh`) → fc2.</summary>
public sealed class VisionMLP : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1, fc2;
    private readonly bool _tanh;

    public VisionMLP(VisionConfig c) : base(nameof(VisionMLP))
    {
        fc1 = nn.Linear(c.HiddenSize, c.IntermediateSize);
        fc2 = nn.Linear(c.IntermediateSize, c.HiddenSize);
        _tanh = c.HiddenAct switch
        {
            "gelu_pytorch_tanh" or "gelu_new" or "gelu_fast" => true,
            "gelu" => false,
            _ => throw new NotSupportedException($"vision hidden_act '{c.HiddenAct}' is not supported"),
        };
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = fc1.forward(x);
        h = _tanh ? nn.functional.gelu(h, TorchSharp.Modules.GELU.Approximate.tanh) : nn.functional.gelu(h);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
