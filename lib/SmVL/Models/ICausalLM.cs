using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// What generation needs from a model: one forward step over new tokens with a KV cache. Text
/// models and the VLM both implement it; pixel values come only with the prefill step (a text
/// model rejects them).
/// </summary>
public interface ICausalLM
{
    int NumLayers { get; }
    Tensor Forward(Tensor inputIds, Tensor? attentionMask, KvCache? cache, Tensor? positionIds, Tensor? pixelValues);

    /// <summary>Final hidden states (B, T, hidden) without the head (training computes logits only where labelled).</summary>
    Tensor Hidden(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask);

    /// <summary>The LM head applied to hidden states.</summary>
    Tensor Logits(Tensor hidden);

    /// <summary>The weight <see cref="Logits"/> multiplies by (the embedding when tied): the head's only parameter.</summary>
    Tensor HeadWeight { get; }
}
