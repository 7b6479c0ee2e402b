using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SmVL.Checkpoints;

/// <summary>
/// A decoder-only text model's HF config: Qwen3 (`model_type: qwen3`) or Llama/SmolLM2
/// (`model_type: llama`). The two architectures differ only in Qwen3's per-head q/k RMSNorm
/// (and its explicit head_dim), so one record and one module family serve both.
/// </summary>
public sealed record TextConfig : HfConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "qwen3";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 151936;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 22016;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("head_dim")] public int? HeadDimOrNull { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 32768;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double? RopeThetaOrNull { get; init; }
    /// <summary>transformers v5 moves rope_theta here; we read either.</summary>
    [JsonPropertyName("rope_parameters")] public JsonObject? RopeParameters { get; init; }
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool? MlpBias { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public JsonNode? EosTokenIdNode { get; init; }
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }

    [JsonIgnore] public int HeadDim => HeadDimOrNull ?? HiddenSize / NumAttentionHeads;
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public bool UsesQkNorm => ModelType is "qwen3" or "qwen3_moe";
    [JsonIgnore] public double RopeTheta =>
        RopeParameters?["rope_theta"]?.GetValue<double>() ?? RopeThetaOrNull ?? 10000.0;
    [JsonIgnore] public int[] EosTokenIds => Ints(EosTokenIdNode);

    /// <summary>Qwen/Qwen3-0.6B (config.json as published).</summary>
    public static TextConfig Qwen3_0_6B => new()
    {
        ModelType = "qwen3", Architectures = new[] { "Qwen3ForCausalLM" }, VocabSize = 151936, HiddenSize = 1024,
        IntermediateSize = 3072, NumHiddenLayers = 28, NumAttentionHeads = 16, NumKeyValueHeads = 8, HeadDimOrNull = 128,
        MaxPositionEmbeddings = 40960, RmsNormEps = 1e-6, RopeThetaOrNull = 1_000_000, TieWordEmbeddings = true,
        BosTokenId = 151643, EosTokenIdNode = JsonValue.Create(151645), TorchDtype = "bfloat16",
    };

    /// <summary>SmolLM2-135M-style Llama, the text model inside SmolVLM2-256M.</summary>
    public static TextConfig SmolLM2_135M => new()
    {
        ModelType = "llama", Architectures = new[] { "LlamaForCausalLM" }, VocabSize = 49280, HiddenSize = 576,
        IntermediateSize = 1536, NumHiddenLayers = 30, NumAttentionHeads = 9, NumKeyValueHeads = 3,
        MaxPositionEmbeddings = 8192, RmsNormEps = 1e-5, RopeThetaOrNull = 100000, TieWordEmbeddings = true,
        TorchDtype = "bfloat16",
    };
}
