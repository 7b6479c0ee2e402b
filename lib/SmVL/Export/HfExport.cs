using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SmVL.Checkpoints;
using SmVL.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Export;

/// <summary>
/// A stitched model folder as transformers' <c>save_pretrained</c> writes it, in the weight type
/// asked for: config.json (torch_dtype set), model.safetensors or shards with
/// model.safetensors.index.json, generation_config.json, and the processor's files. Training folds
/// LoRA adapters in before it saves, so the weights are already plain.
/// </summary>
public static partial class HfExport
{
    /// <summary>transformers' dtype names.</summary>
    public static readonly IReadOnlyDictionary<string, ScalarType> DTypes = new Dictionary<string, ScalarType>
    {
        ["bf16"] = ScalarType.BFloat16, ["f16"] = ScalarType.Float16, ["f32"] = ScalarType.Float32,
    };

    public static void Write(string modelDir, string outDir, ScalarType dtype, long? maxShardBytes = null)
    {
        using var loaded = ModelFolder.Load(modelDir, CPU);
        var model = loaded.Model;
        model.to(dtype);
        string name = dtype switch { ScalarType.BFloat16 => "bfloat16", ScalarType.Float16 => "float16", _ => "float32" };
        var config = model.Config with { TorchDtype = name, TextConfig = model.Config.TextConfig with { TorchDtype = name } };
        Directory.CreateDirectory(outDir);
        config.Save(Path.Combine(outDir, "config.json"));
        CheckpointLoader.Save(model, outDir, maxShardBytes);
        ModelFolder.SaveProcessor(loaded.Processor, outDir);
        var eos = config.TextConfig.EosTokenIds;
        var generation = new JsonObject
        {
            ["_from_model_config"] = true,
            ["bos_token_id"] = config.TextConfig.BosTokenId,
            ["eos_token_id"] = eos.Length == 1 ? JsonValue.Create(eos[0]) : new JsonArray(eos.Select(e => (JsonNode?)e).ToArray()),
            ["pad_token_id"] = loaded.Generation.PadTokenId,
        };
        File.WriteAllText(Path.Combine(outDir, "generation_config.json"), generation.ToJsonString(new() { WriteIndented = true }) + "\n");
    }

    /// <summary>A size as huggingface_hub reads --max-shard-size: "2GB" (10⁹ bytes), "500MB", "1GiB" (2³⁰), or plain bytes.</summary>
    public static long ParseSize(string text)
    {
        var m = Size().Match(text.Trim());
        if (!m.Success) throw new FormatException($"'{text}' is not a size (e.g. 2GB, 500MB, 1GiB)");
        double value = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        double unit = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 1, "KB" => 1e3, "MB" => 1e6, "GB" => 1e9, "KIB" => 1 << 10, "MIB" => 1 << 20, "GIB" => 1 << 30,
            var u => throw new FormatException($"unknown size unit '{u}'"),
        };
        long bytes = (long)(value * unit);
        return bytes > 0 ? bytes : throw new FormatException($"'{text}' is not a positive size");
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$")]
    private static partial Regex Size();
}
