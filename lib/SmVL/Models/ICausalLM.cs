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
}
