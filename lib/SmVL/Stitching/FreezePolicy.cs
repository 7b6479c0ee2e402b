using System.Text;
using SmVL.Models;
using TorchSharp.Modules;

namespace SmVL.Stitching;

/// <summary>
/// Which parameters train. <see cref="ConnectorOnly"/> is the reference recipe (12,582,912 of
/// 695,065,856 = 1.81% for the real pair: Qwen3-0.6B's head is tied to the frozen embedding, so
/// the blog's "connector + LM head" trained the connector only). Frozen parameters get
/// requires_grad = false, so they carry no gradient and get no optimizer state.
/// </summary>
public enum FreezePolicy { ConnectorOnly, ConnectorAndHead, Lora, Full }

public static class Freezing
{
    public static FreezePolicy Parse(string s) => s.ToLowerInvariant() switch
    {
        "connector" or "connector-only" or "connectoronly" => FreezePolicy.ConnectorOnly,
        "connector+head" or "connector-head" or "connectorandhead" => FreezePolicy.ConnectorAndHead,
        "lora" => FreezePolicy.Lora,
        "full" => FreezePolicy.Full,
        _ => throw new ArgumentException($"unknown freeze policy '{s}' (connector, connector+head, lora, full)"),
    };

    /// <summary>
    /// Set requires_grad per the policy. ConnectorAndHead unties the head first. Lora trains the
    /// connector and every `lora_*` adapter parameter (apply <see cref="Lora.Apply"/> first).
    /// </summary>
    public static void Apply(SmolVLMForConditionalGeneration model, FreezePolicy policy)
    {
        if (policy == FreezePolicy.ConnectorAndHead) model.UntieHead();
        if (policy == FreezePolicy.Lora && !Lora.Adapters(model).Any())
            throw new InvalidOperationException("FreezePolicy.Lora: the model has no LoRA adapters (call Lora.Apply first)");
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = IsTrainable(name, policy);
    }

    /// <summary>Whether a parameter of this name trains under the policy.</summary>
    public static bool IsTrainable(string name, FreezePolicy policy) => policy switch
    {
        FreezePolicy.Full => true,
        FreezePolicy.ConnectorOnly => name.StartsWith("model.connector."),
        FreezePolicy.ConnectorAndHead => name.StartsWith("model.connector.") || name.StartsWith("lm_head."),
        FreezePolicy.Lora => name.StartsWith("model.connector.") || IsLoraParameter(name),
        _ => false,
    };

    public static bool IsLoraParameter(string name) => name.Contains(".lora_A.") || name.Contains(".lora_B.");

    /// <summary>The policy's name in experiment files (the inverse of <see cref="Parse"/>).</summary>
    public static string Name(FreezePolicy policy) => policy switch
    {
        FreezePolicy.ConnectorOnly => "connector",
        FreezePolicy.ConnectorAndHead => "connector+head",
        FreezePolicy.Lora => "lora",
        FreezePolicy.Full => "full",
        _ => throw new ArgumentOutOfRangeException(nameof(policy)),
    };

    /// <summary>Parameters per top-level module and trainable/total, counted once per shared tensor.</summary>
    public static IReadOnlyList<(string module, long total, long trainable)> Table(SmolVLMForConditionalGeneration model)
    {
        var rows = new Dictionary<string, (long total, long trainable)>();
        foreach (var (name, p) in model.named_parameters())
        {
            string module = ModuleOf(name);
            var (t, tr) = rows.GetValueOrDefault(module);
            rows[module] = (t + p.numel(), tr + (p.requires_grad ? p.numel() : 0));
        }
        return rows.Select(kv => (kv.Key, kv.Value.total, kv.Value.trainable)).ToList();
    }

    public static string ModuleOf(string parameterName) => parameterName switch
    {
        var n when n.StartsWith("model.vision_model.") => "vision",
        var n when n.StartsWith("model.connector.") => "connector",
        var n when Freezing.IsLoraParameter(n) => "lora",
        var n when n.StartsWith("model.text_model.") => "lm",
        var n when n.StartsWith("lm_head.") => "head",
        _ => "other",
    };

    /// <summary>The blog's print-out: "trainable params: 12.00M || all params: 662.87M || trainable%: 1.81" (M = 2^20).</summary>
    public static string Summary(SmolVLMForConditionalGeneration model)
    {
        var table = Table(model);
        long total = table.Sum(r => r.total), trainable = table.Sum(r => r.trainable);
        var sb = new StringBuilder();
        sb.AppendLine($"{"module",-10} {"params",15} {"trainable",15}");
        foreach (var (m, t, tr) in table) sb.AppendLine($"{m,-10} {t,15:N0} {tr,15:N0}");
        sb.Append($"trainable params: {trainable / 1048576.0:F2}M || all params: {total / 1048576.0:F2}M || trainable%: {100.0 * trainable / total:F2}");
        return sb.ToString();
    }
}
