using SmVL.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// The full VLM (HF `SmolVLMForConditionalGeneration`): <see cref="SmolVLMModel"/> + LM head.
/// A tied head reuses `model.text_model.embed_tokens.weight` (one parameter, never a copy).
/// </summary>
public sealed class SmolVLMForConditionalGeneration : nn.Module, ICausalLM
{
    public readonly SmolVLMModel model;
    public Linear? lm_head { get; private set; }
    public SmolVLMConfig Config => model.Config;

    public SmolVLMForConditionalGeneration(SmolVLMConfig config) : base(nameof(SmolVLMForConditionalGeneration))
    {
        model = new SmolVLMModel(config);
        RegisterComponents();
        if (!config.HeadTied)
        {
            lm_head = nn.Linear(config.TextConfig.HiddenSize, config.TextConfig.VocabSize, hasBias: false);
            register_module("lm_head", lm_head);
        }
    }

    public Tensor HeadWeight => lm_head?.weight ?? model.text_model.embed_tokens.weight!;

    /// <summary>
    /// Give the head its own weight, initialised as a copy of the embedding, so it can train while
    /// the embedding stays frozen (the `connector+head` policy). The config records the untie.
    /// </summary>
    public void UntieHead()
    {
        if (lm_head is not null) return;
        using var _ = no_grad();
        var head = nn.Linear(Config.TextConfig.HiddenSize, Config.TextConfig.VocabSize, hasBias: false,
            device: HeadWeight.device, dtype: HeadWeight.dtype);
        head.weight!.copy_(model.text_model.embed_tokens.weight!);
        lm_head = head;
        register_module("lm_head", head);
        model.Config = Config with { TieWordEmbeddings = false, TextConfig = Config.TextConfig with { TieWordEmbeddings = false } };
    }

    public Tensor Logits(Tensor hidden) => RowParallelLinear.Linear(hidden, HeadWeight);

    /// <summary>Final hidden states (B, T, hidden); pixel values (B, N, 3, H, W) or null.</summary>
    public Tensor Hidden(Tensor inputIds, Tensor? pixelValues = null, Tensor? attentionMask = null,
                         KvCache? cache = null, Tensor? positionIds = null, Tensor? imageFeatures = null)
    {
        using var scope = NewDisposeScope();
        var embeds = model.InputsEmbeds(inputIds, pixelValues, imageFeatures);
        return model.text_model.forward(embeds, attentionMask, cache, positionIds).MoveToOuterDisposeScope();
    }

    public Tensor forward(Tensor inputIds, Tensor? pixelValues = null, Tensor? attentionMask = null,
                          KvCache? cache = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        return Logits(Hidden(inputIds, pixelValues, attentionMask, cache, positionIds)).MoveToOuterDisposeScope();
    }

    Tensor ICausalLM.Forward(Tensor inputIds, Tensor? attentionMask, KvCache? cache, Tensor? positionIds, Tensor? pixelValues) =>
        forward(inputIds, pixelValues, attentionMask, cache, positionIds);

    Tensor ICausalLM.Hidden(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask) => Hidden(inputIds, pixelValues, attentionMask);

    public int NumLayers => model.text_model.layers.Count;
}
