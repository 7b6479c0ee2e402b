using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>How checkpoint names map onto a module's state-dict names.</summary>
public sealed record LoadOptions
{
    /// <summary>Only checkpoint keys with this prefix are considered; the prefix is stripped.</summary>
    public string? SourcePrefix { get; init; }
    /// <summary>Prepended to (stripped) checkpoint keys before matching, e.g. "model.text_model.".</summary>
    public string? TargetPrefix { get; init; }
    /// <summary>Checkpoint keys allowed to be present but unused (a tied `lm_head.weight`).</summary>
    public ISet<string> IgnoreUnexpected { get; init; } = new HashSet<string>();
    /// <summary>Only these module entries are expected to be filled (others are left alone).</summary>
    public Func<string, bool>? TargetFilter { get; init; }
    public bool Strict { get; init; } = true;
}

public sealed record LoadReport(int Loaded, long Bytes, IReadOnlyList<string> Ignored, IReadOnlyList<string> Missing);

/// <summary>
/// HF checkpoint folders: `model.safetensors`, or shards listed by `model.safetensors.index.json`.
/// Loading is strict by name and copies each tensor into the module's existing parameter (so tied
/// parameters stay shared), one tensor at a time: peak memory is the model plus one tensor.
/// </summary>
public static class CheckpointLoader
{
    public const string SingleFile = "model.safetensors", IndexFile = "model.safetensors.index.json";

    public static IReadOnlyList<string> FindFiles(string dirOrFile)
    {
        if (File.Exists(dirOrFile)) return new[] { dirOrFile };
        if (!Directory.Exists(dirOrFile)) throw new CheckpointException($"{dirOrFile}: no such checkpoint file or folder");
        var single = Path.Combine(dirOrFile, SingleFile);
        if (File.Exists(single)) return new[] { single };
        var index = Path.Combine(dirOrFile, IndexFile);
        if (!File.Exists(index)) throw new CheckpointException($"{dirOrFile}: neither {SingleFile} nor {IndexFile} found");
        JsonObject map;
        try { map = JsonNode.Parse(File.ReadAllText(index))!["weight_map"]!.AsObject(); }
        catch (Exception e) { throw new CheckpointException($"{index}: not a valid safetensors index ({e.Message})", e); }
        var files = map.Select(kv => kv.Value!.GetValue<string>()).Distinct().OrderBy(f => f).Select(f => Path.Combine(dirOrFile, f)).ToList();
        foreach (var f in files) if (!File.Exists(f)) throw new CheckpointException($"{index}: shard {Path.GetFileName(f)} is missing");
        return files;
    }

    public static LoadReport LoadInto(nn.Module module, string dirOrFile, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var targets = module.state_dict().Where(kv => options.TargetFilter?.Invoke(kv.Key) ?? true).ToDictionary(kv => kv.Key, kv => kv.Value);
        var filled = new HashSet<string>();
        var unexpected = new List<string>();
        var mismatched = new List<string>();
        var ignored = new List<string>();
        long bytes = 0;
        using var _ = no_grad();
        foreach (var path in FindFiles(dirOrFile))
        {
            using var file = SafetensorsFile.Open(path);
            foreach (var info in file.Tensors.Values)
            {
                if (options.SourcePrefix is { } sp && !info.Name.StartsWith(sp)) continue;
                string name = (options.TargetPrefix ?? "") + (options.SourcePrefix is { } p ? info.Name[p.Length..] : info.Name);
                if (!targets.TryGetValue(name, out var target))
                {
                    if (options.IgnoreUnexpected.Contains(info.Name) || options.IgnoreUnexpected.Contains(name)) ignored.Add(info.Name);
                    else unexpected.Add($"{info.Name} [{string.Join(", ", info.Shape)}]");
                    continue;
                }
                if (!target.shape.SequenceEqual(info.Shape))
                {
                    mismatched.Add($"{info.Name}: checkpoint [{string.Join(", ", info.Shape)}] vs model [{string.Join(", ", target.shape)}]");
                    continue;
                }
                using (var scope = NewDisposeScope())
                {
                    var t = file.Read(info.Name);
                    target.copy_(t);
                }
                filled.Add(name);
                bytes += info.ByteSize;
            }
        }
        var missing = targets.Keys.Where(k => !filled.Contains(k)).ToList();
        if (options.Strict && (missing.Count > 0 || unexpected.Count > 0 || mismatched.Count > 0))
        {
            string List(string title, List<string> items) => items.Count == 0 ? "" : $"\n  {title} ({items.Count}): " + string.Join(", ", items.Take(20)) + (items.Count > 20 ? ", ..." : "");
            throw new CheckpointException($"{dirOrFile}: checkpoint does not fit {module.GetType().Name}" +
                List("missing", missing) + List("unexpected", unexpected) + List("shape mismatch", mismatched));
        }
        if (mismatched.Count > 0) throw new CheckpointException($"{dirOrFile}: shape mismatch: " + string.Join("; ", mismatched));
        return new LoadReport(filled.Count, bytes, ignored, missing);
    }

    /// <summary>
    /// Save a module's state dict HF-style: one `model.safetensors`, or shards
    /// `model-0000i-of-0000N.safetensors` + index when <paramref name="maxShardBytes"/> is exceeded.
    /// A tensor registered under two names (tied) is written once, under its first name.
    /// </summary>
    public static void Save(nn.Module module, string dir, long? maxShardBytes = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(dir);
        var seen = new HashSet<IntPtr>();
        var tensors = module.state_dict().Where(kv => seen.Add(kv.Value.Handle)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        metadata ??= new Dictionary<string, string> { ["format"] = "pt" };
        foreach (var stale in Directory.GetFiles(dir, "model*.safetensors*")) File.Delete(stale);
        long total = tensors.Sum(kv => kv.Value.NumberOfElements * kv.Value.ElementSize);
        if (maxShardBytes is not { } max || total <= max)
        {
            Safetensors.Save(Path.Combine(dir, SingleFile), tensors, metadata);
            return;
        }
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long current = 0;
        foreach (var kv in tensors)
        {
            long size = kv.Value.NumberOfElements * kv.Value.ElementSize;
            if (current > 0 && current + size > max) { shards.Add(new()); current = 0; }
            shards[^1].Add(kv); current += size;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Safetensors.Save(Path.Combine(dir, file), shards[i], metadata);
            foreach (var kv in shards[i]) weightMap[kv.Key] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        File.WriteAllText(Path.Combine(dir, IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
