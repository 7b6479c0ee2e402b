using SmVL.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// The Qwen3 decoder stack (HF `Qwen3Model`): embed_tokens → layers → norm. With
/// `model_type: llama` the same module is SmolLM2/Llama (no q/k norm). Field names are HF's so a
/// checkpoint's `model.*` tensors load by name.
/// </summary>
public sealed class Qwen3Model : nn.Module, ICheckpointedStack
{
    public readonly Embedding embed_tokens;
    public readonly ModuleList<Qwen3DecoderLayer> layers;
    public readonly RMSNorm norm;
    public TextConfig Config { get; }
    private readonly RotaryEmbedding _rope;

    public Qwen3Model(TextConfig config) : base(nameof(Qwen3Model))
    {
        Config = config;
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = new ModuleList<Qwen3DecoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++) layers.Add(new Qwen3DecoderLayer(config));
        norm = new RMSNorm(config.HiddenSize, config.RmsNormEps);
        _rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta);
        RegisterComponents();
    }

    public RotaryEmbedding Rope => _rope;

    /// <summary>
    /// HF's `gradient_checkpointing`: while autograd records (training), each layer keeps only its
    /// input and is recomputed in the backward pass (<see cref="Models.GradientCheckpointing"/>).
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>
    /// Run the stack on embeddings (B, T, hidden). Position ids default to past..past+T-1.
    /// With <paramref name="hiddenStates"/> non-null, the residual stream after the embeddings and
    /// after each layer is appended to it (for parity checks and plots).
    /// </summary>
    public Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask = null, KvCache? cache = null,
                          Tensor? positionIds = null, List<Tensor>? hiddenStates = null)
    {
        using var scope = NewDisposeScope();
        long B = inputsEmbeds.shape[0], T = inputsEmbeds.shape[1], past = cache?.SeqLen ?? 0;
        positionIds ??= Scalars.Arange(past, past + T, device: inputsEmbeds.device).unsqueeze(0).expand(B, T);
        var (cos, sin) = _rope.Compute(positionIds);
        if (hiddenStates is null && DecodeStack.Applies(this, inputsEmbeds, attentionMask, cache))
            return norm.forward(DecodeStack.Step(this, inputsEmbeds, cos, sin, cache!)).MoveToOuterDisposeScope();
        var mask = AttentionMask.Causal(attentionMask, B, T, past, inputsEmbeds.dtype, inputsEmbeds.device);
        var h = inputsEmbeds;
        hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
        for (int i = 0; i < layers.Count; i++)
        {
            h = GradientCheckpointing && cache is null
                ? Checkpointed(layers[i], h, cos, sin, mask)
                : layers[i].forward(h, cos, sin, mask, cache, i);
            hiddenStates?.Add(h.alias().MoveToOuterDisposeScope());
        }
        return norm.forward(h).MoveToOuterDisposeScope();
    }

    private static Tensor Checkpointed(Qwen3DecoderLayer layer, Tensor h, Tensor cos, Tensor sin, Tensor? mask) =>
        Models.GradientCheckpointing.Layer(layer, h, [cos, sin, mask], (x, t) => layer.forward(x, t[0]!, t[1]!, t[2], null, 0));

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rope.Dispose();
        base.Dispose(disposing);
    }
}
