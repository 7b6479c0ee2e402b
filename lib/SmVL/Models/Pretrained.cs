using SmVL.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// Loading HF checkpoint folders (config.json + model.safetensors, sharded or not) into our
/// modules, strictly by tensor name. A tied head's stored `lm_head.weight` (real Qwen3-0.6B
/// stores one; our fixtures don't) is accepted and ignored: the head IS the embedding.
/// </summary>
public static class Pretrained
{
    public static Qwen3ForCausalLM LoadCausalLM(string dir, ScalarType? dtype = null, Device? device = null)
    {
        var config = HfConfig.Load<TextConfig>(dir);
        var model = new Qwen3ForCausalLM(config);
        Prepare(model, dtype, device);
        CheckpointLoader.LoadInto(model, dir, new LoadOptions
        {
            IgnoreUnexpected = config.TieWordEmbeddings ? new HashSet<string> { "lm_head.weight" } : new HashSet<string>(),
        });
        model.eval();
        return model;
    }

    public static SmolVLMForConditionalGeneration LoadSmolVLM(string dir, ScalarType? dtype = null, Device? device = null)
    {
        var config = HfConfig.Load<SmolVLMConfig>(dir);
        var model = new SmolVLMForConditionalGeneration(config);
        Prepare(model, dtype, device);
        CheckpointLoader.LoadInto(model, dir, new LoadOptions
        {
            IgnoreUnexpected = config.HeadTied ? new HashSet<string> { "lm_head.weight" } : new HashSet<string>(),
        });
        model.eval();
        return model;
    }

    /// <summary>The model_type in a folder's config.json ("qwen3", "llama", "smolvlm", ...).</summary>
    public static string ModelType(string dir)
    {
        var path = Directory.Exists(dir) ? Path.Combine(dir, "config.json") : dir;
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.TryGetProperty("model_type", out var t) ? t.GetString() ?? "" : "";
    }

    private static void Prepare(nn.Module model, ScalarType? dtype, Device? device)
    {
        if (dtype is { } d) model.to(d);
        if (device is { } dev) model.to(dev);
    }
}
