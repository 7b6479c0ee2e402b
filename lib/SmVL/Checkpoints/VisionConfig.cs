using System.Text.Json.Serialization;

namespace SmVL.Checkpoints;

/// <summary>
/// SmolVLM/Idefics3 vision tower config (`vision_config`). Defaults are SmolVLMVisionConfig's class
/// defaults, which real configs rely on for the fields they omit (intermediate 3072, 12 layers,
/// eps 1e-6, gelu_pytorch_tanh). Careful: the class defaults for hidden/image/patch are
/// 1152/224/32, not SmolVLM2-256M's 768/512/16 — real configs always state those.
/// </summary>
public sealed record VisionConfig : HfConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "smolvlm_vision";
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 1152;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 16;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 32;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu_pytorch_tanh";
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-6;

    [JsonIgnore] public int PatchesPerSide => ImageSize / PatchSize;
    [JsonIgnore] public int NumPatches => PatchesPerSide * PatchesPerSide;

    /// <summary>SigLIP-B/16-512 as in SmolVLM2-256M.</summary>
    public static VisionConfig SmolVLM2_256M => new() { HiddenSize = 768, NumAttentionHeads = 12, PatchSize = 16, ImageSize = 512 };
}
