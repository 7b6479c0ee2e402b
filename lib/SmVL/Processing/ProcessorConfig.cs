using System.Text.Json.Serialization;

namespace SmVL.Processing;

/// <summary>
/// SmolVLM processor settings (`processor_config.json` + the string attributes Qwen3-SmVL
/// overwrote). Defaults are Qwen3-SmVL's: `&lt;|image_pad|&gt;` per image feature,
/// `&lt;|vision_pad|&gt;` marks the global image, `&lt;vision_start&gt;` (plain text) opens each tile.
/// </summary>
public sealed record ProcessorConfig
{
    [JsonPropertyName("image_seq_len")] public int ImageSeqLen { get; init; } = 64;
    [JsonPropertyName("image_token")] public string ImageToken { get; init; } = "<|image_pad|>";
    [JsonPropertyName("fake_image_token")] public string FakeImageToken { get; init; } = "<vision_start>";
    [JsonPropertyName("global_image_token")] public string GlobalImageToken { get; init; } = "<|vision_pad|>";
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 151643;

    /// <summary>SmolVLM2's own strings (the parent before surgery).</summary>
    public static ProcessorConfig SmolVLM2 => new()
    {
        ImageToken = "<image>", FakeImageToken = "<fake_token_around_image>", GlobalImageToken = "<global-img>", PadTokenId = 2,
    };

    public static ProcessorConfig Load(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<ProcessorConfig>(File.ReadAllText(path))
        ?? throw new InvalidDataException($"{path}: empty processor config");
}
