using System.Text.Json.Serialization;

namespace SmVL.Checkpoints;

/// <summary>
/// The outer SmolVLM config. HF's merger reads the TOP-LEVEL <see cref="ImageTokenId"/>;
/// a nested `text_config.image_token_id` (if present) is not read — that asymmetry is the blog's
/// broken-wiring bug. `text_config.model_type` may be `llama` (SmolVLM2) or `qwen3` (stitched).
/// </summary>
public sealed record SmolVLMConfig : HfConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "smolvlm";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = new[] { "SmolVLMForConditionalGeneration" };
    [JsonPropertyName("image_token_id")] public int ImageTokenId { get; init; } = 128257;
    [JsonPropertyName("scale_factor")] public int ScaleFactor { get; init; } = 2;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("vocab_size")] public int? VocabSize { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    [JsonPropertyName("vision_config")] public VisionConfig VisionConfig { get; init; } = new();
    [JsonPropertyName("text_config")] public TextConfig TextConfig { get; init; } = new();

    /// <summary>Image tokens per tile: (image_size/patch)² / scale².</summary>
    [JsonIgnore] public int ImageSeqLen => VisionConfig.NumPatches / (ScaleFactor * ScaleFactor);
    [JsonIgnore] public int ConnectorInputSize => VisionConfig.HiddenSize * ScaleFactor * ScaleFactor;

    /// <summary>The tie flag HF applies to the outer model: both levels must agree for a tied head.</summary>
    [JsonIgnore] public bool HeadTied => TieWordEmbeddings && TextConfig.TieWordEmbeddings;
}
