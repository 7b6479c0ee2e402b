using SmVL.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Qwen3 (or Llama) with its LM head (HF `Qwen3ForCausalLM`). A tied head is not a module: the
/// logits reuse `model.embed_tokens.weight`, the one shared parameter, so training or loading
/// one is the other. An untied head is the `lm_head` Linear.
/// </summary>
public sealed class Qwen3ForCausalLM : nn.Module, ICausalLM
{
    public readonly Qwen3Model model;
    public readonly Linear? lm_head;
    public TextConfig Config => model.Config;

    public Qwen3ForCausalLM(TextConfig config) : base(nameof(Qwen3ForCausalLM))
    {
        model = new Qwen3Model(config);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public Tensor HeadWeight => lm_head?.weight ?? model.embed_tokens.weight!;

    public Tensor Embed(Tensor inputIds) => model.embed_tokens.forward(inputIds);

    public Tensor Logits(Tensor hidden) => RowParallelLinear.Linear(hidden, HeadWeight);

    public Tensor Hidden(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask)
    {
        if (pixelValues is not null) throw new ArgumentException("a text-only model takes no pixel values");
        using var scope = NewDisposeScope();
        return model.forward(Embed(inputIds), attentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>Logits (B, T, vocab) for input ids (B, T).</summary>
    public Tensor forward(Tensor inputIds, Tensor? attentionMask = null, KvCache? cache = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        var hidden = model.forward(Embed(inputIds), attentionMask, cache, positionIds);
        return Logits(hidden).MoveToOuterDisposeScope();
    }

    Tensor ICausalLM.Forward(Tensor inputIds, Tensor? attentionMask, KvCache? cache, Tensor? positionIds, Tensor? pixelValues) =>
        pixelValues is null ? forward(inputIds, attentionMask, cache, positionIds)
            : throw new ArgumentException("a text-only model takes no pixel values");

    public int NumLayers => model.layers.Count;
}
