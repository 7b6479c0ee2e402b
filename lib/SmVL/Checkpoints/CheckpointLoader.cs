using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>How checkpoint names map onto a module's parameter and persistent-buffer names.</summary>
public sealed record LoadOptions
{
    /// <summary>Only checkpoint keys starting with this prefix are considered; the prefix is stripped.</summary>
    public string? SourcePrefix { get; init; }
    /// <summary>Prepended to the (stripped) checkpoint key before matching, e.g. "model.text_model.".</summary>
    public string? TargetPrefix { get; init; }
    /// <summary>
    /// Checkpoint keys allowed to be present but unused (e.g. a tied `lm_head.weight` when the model has
    /// no such parameter). Matched against the key as stored in the file and against its target name.
    /// </summary>
    public ISet<string> IgnoreUnexpected { get; init; } = new HashSet<string>();
    /// <summary>When false, missing and unexpected tensors are reported instead of thrown. Shape mismatches always throw.</summary>
    public bool Strict { get; init; } = true;
    /// <summary>Only module entries whose name passes are expected (and may be filled); null = all.</summary>
    public Func<string, bool>? TargetFilter { get; init; }
}

/// <summary>What <see cref="CheckpointLoader.LoadInto"/> did.</summary>
/// <param name="Loaded">Module tensors filled from the checkpoint.</param>
/// <param name="Bytes">Checkpoint bytes read.</param>
/// <param name="Ignored">Checkpoint keys present but unused because <see cref="LoadOptions.IgnoreUnexpected"/> allowed it.</param>
/// <param name="Missing">Expected module entries the checkpoint did not fill (non-empty only when not strict).</param>
public sealed record LoadReport(int Loaded, long Bytes, IReadOnlyList<string> Ignored, IReadOnlyList<string> Missing)
{
    /// <summary>Checkpoint keys that matched nothing (non-empty only when not strict).</summary>
    public IReadOnlyList<string> Unexpected { get; init; } = [];
    /// <summary>
    /// Checkpoint keys naming a tied module tensor that another key already filled (a stored copy of a
    /// tied head): like transformers, the first key wins, preferring the module's canonical name.
    /// </summary>
    public IReadOnlyList<string> TiedDuplicates { get; init; } = [];
    /// <summary>Checkpoint keys skipped because they do not start with <see cref="LoadOptions.SourcePrefix"/>.</summary>
    public int OutsidePrefix { get; init; }
    public IReadOnlyList<string> Files { get; init; } = [];
}

/// <summary>
/// HF checkpoints: `model.safetensors`, or shards listed by `model.safetensors.index.json`.
/// Loading is strict by name against the module's parameters and persistent buffers, and copies each
/// tensor into the module's existing tensor (so tied parameters stay shared), one tensor at a time:
/// peak memory is the model plus one checkpoint tensor.
/// </summary>
public static class CheckpointLoader
{
    public const string SingleFile = "model.safetensors", IndexFile = "model.safetensors.index.json";
    private const int ListLimit = 40;

    // ------------------------------------------------------------------ finding files

    /// <summary>
    /// The safetensors files of a checkpoint: a `.safetensors` file itself; an index file's shards; or a
    /// folder's `model.safetensors` (preferred, as transformers does) or the shards its
    /// `model.safetensors.index.json` lists.
    /// </summary>
    public static IReadOnlyList<string> FindFiles(string dirOrFile)
    {
        if (File.Exists(dirOrFile))
        {
            if (dirOrFile.EndsWith(".index.json", StringComparison.Ordinal)) return ReadIndex(dirOrFile).Files;
            if (dirOrFile.EndsWith(".safetensors", StringComparison.Ordinal)) return [dirOrFile];
            throw new CheckpointException(dirOrFile, null, "is neither a .safetensors file nor a safetensors index (.index.json)");
        }
        if (!Directory.Exists(dirOrFile)) throw new CheckpointException(dirOrFile, null, "no such checkpoint file or folder");
        var single = Path.Combine(dirOrFile, SingleFile);
        if (File.Exists(single)) return [single];
        var index = Path.Combine(dirOrFile, IndexFile);
        if (File.Exists(index)) return ReadIndex(index).Files;
        throw new CheckpointException(dirOrFile, null, $"folder has neither {SingleFile} nor {IndexFile}");
    }

    /// <summary>A safetensors index: its weight_map (tensor → file name) and the distinct shard paths (sorted).</summary>
    public static (IReadOnlyDictionary<string, string> WeightMap, IReadOnlyList<string> Files) ReadIndex(string indexPath)
    {
        CheckpointException Bad(string problem, string? tensor = null, Exception? inner = null) => new(indexPath, tensor, problem, inner);
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw Bad("not a safetensors index: no \"weight_map\" object");
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw Bad("weight_map value is not a file name", p.Name);
                var file = p.Value.GetString()!;
                if (file.Length == 0 || file != Path.GetFileName(file) || file is "." or ".." || file.Contains('/') || file.Contains('\\'))
                    throw Bad($"shard name '{SafetensorsFormat.Printable(file)}' is not a plain file name in the index's folder", p.Name);
                if (!map.TryAdd(p.Name, file)) throw Bad("listed twice in weight_map", p.Name);
            }
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        { throw Bad($"cannot read the index ({e.Message})", null, e); }
        var files = map.Values.Distinct().OrderBy(f => f, StringComparer.Ordinal).Select(f => Path.Combine(dir, f)).ToList();
        foreach (var f in files)
            if (!File.Exists(f)) throw Bad($"shard {Path.GetFileName(f)} listed in the index does not exist");
        return (map, files);
    }

    // ------------------------------------------------------------------ loading

    private sealed class Target(Tensor tensor, string canonical)
    {
        public Tensor Tensor { get; } = tensor;
        public string Canonical { get; } = canonical;
        public List<string> Names { get; } = [canonical];
        public bool Expected { get; set; }
        public bool Mismatched { get; set; }
        public (string key, SafetensorsFile file, SafetensorInfo info, string name)? Source { get; set; }
    }

    /// <summary>
    /// The module's parameters and persistent buffers grouped by tensor identity: a tied tensor is one
    /// group with several names (canonical = first in named_parameters/named_buffers order).
    /// </summary>
    private static (List<Target> groups, Dictionary<string, Target> byName) Targets(nn.Module module)
    {
        var groups = new List<Target>();
        var byKey = new Dictionary<string, Target>(StringComparer.Ordinal);
        var byName = new Dictionary<string, Target>(StringComparer.Ordinal);
        void Add(string name, Tensor t)
        {
            if (byName.ContainsKey(name)) return;
            var key = SafetensorsFormat.IdentityKey(t);
            if (byKey.TryGetValue(key, out var g)) g.Names.Add(name);
            else { g = new Target(t, name); byKey[key] = g; groups.Add(g); }
            byName[name] = g;
        }
        foreach (var (name, p) in module.named_parameters()) Add(name, p);
        foreach (var (name, b) in module.named_buffers(recurse: true, include_nonpersistent: false)) Add(name, b);
        // Aliases: the same tensor registered again under another name (named_parameters lists it once).
        var modules = new List<(string prefix, nn.Module m)> { ("", module) };
        modules.AddRange(module.named_modules().Select(x => (x.name + ".", x.module)));
        foreach (var (prefix, m) in modules)
        {
            foreach (var (name, p) in m.named_parameters(recurse: false)) Add(prefix + name, p);
            foreach (var (name, b) in m.named_buffers(recurse: false, include_nonpersistent: false)) Add(prefix + name, b);
        }
        return (groups, byName);
    }

    /// <summary>
    /// Fill <paramref name="module"/>'s parameters and persistent buffers from a checkpoint, strictly by
    /// name. The whole plan (missing / unexpected / shape-mismatched tensors) is checked from the
    /// headers before any data is read, so a checkpoint that does not fit leaves the module untouched.
    /// Each tensor is then read alone into the existing tensor (under no_grad): straight into its storage
    /// when dtype and device already match, otherwise through one reused 16 MB staging buffer,
    /// converting to its dtype and device. Peak memory is the model plus that buffer. Errors found
    /// only while reading data (a file truncated after it was opened, a BOOL byte that is not 0/1)
    /// can leave the module partly filled.
    /// </summary>
    public static LoadReport LoadInto(nn.Module module, string dirOrFile, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var (groups, byName) = Targets(module);
        foreach (var g in groups) g.Expected = options.TargetFilter is null || g.Names.Any(options.TargetFilter);

        var paths = FindFiles(dirOrFile);
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var p in paths) files.Add(SafetensorsFile.Open(p));
            CheckIndex(dirOrFile, files);

            var seenKeys = new Dictionary<string, string>(StringComparer.Ordinal);
            var unexpected = new List<string>();
            var mismatched = new List<string>();
            var ignored = new List<string>();
            var duplicates = new List<string>();
            int outside = 0;
            foreach (var file in files)
            foreach (var info in file.Tensors.Values)
            {
                var key = info.Name;
                if (seenKeys.TryGetValue(key, out var other))
                    throw new CheckpointException(file.Path, key, $"is also stored in {other}");
                seenKeys[key] = file.Path;
                if (options.SourcePrefix is { } sp && !key.StartsWith(sp, StringComparison.Ordinal)) { outside++; continue; }
                var name = (options.TargetPrefix ?? "") + (options.SourcePrefix is { } p ? key[p.Length..] : key);
                if (!byName.TryGetValue(name, out var g) || !g.Expected)
                {
                    if (options.IgnoreUnexpected.Contains(key) || options.IgnoreUnexpected.Contains(name)) ignored.Add(key);
                    else unexpected.Add($"{Show(key)} {info.ShapeString} {info.DType}" + (name != key ? $" (as '{Show(name)}')" : ""));
                    continue;
                }
                if (!g.Tensor.shape.SequenceEqual(info.Shape))
                {
                    mismatched.Add($"{Show(key)}: checkpoint {info.ShapeString} {info.DType} vs model '{Show(name)}' {SafetensorsFormat.ShapeString(g.Tensor.shape)} {g.Tensor.dtype}");
                    g.Mismatched = true;
                    continue;
                }
                if (g.Source is { } s)
                {
                    // Tied: keep the key that names the canonical tensor, report the other.
                    if (name == g.Canonical && s.name != g.Canonical) { duplicates.Add(s.key); g.Source = (key, file, info, name); }
                    else duplicates.Add(key);
                    continue;
                }
                g.Source = (key, file, info, name);
            }
            var missing = groups.Where(g => g.Expected && g.Source is null && !g.Mismatched)
                .Select(g => $"{Show(g.Names.FirstOrDefault(n => options.TargetFilter?.Invoke(n) ?? true) ?? g.Canonical)} {SafetensorsFormat.ShapeString(g.Tensor.shape)} {g.Tensor.dtype}")
                .ToList();

            if (mismatched.Count > 0 || (options.Strict && (missing.Count > 0 || unexpected.Count > 0)))
            {
                var sb = new StringBuilder($"checkpoint does not fit {module.GetType().Name}");
                if (options.SourcePrefix is not null || options.TargetPrefix is not null)
                    sb.Append($" (source prefix '{options.SourcePrefix}', target prefix '{options.TargetPrefix}')");
                Section(sb, "missing from the checkpoint", missing);
                Section(sb, "unexpected in the checkpoint", unexpected);
                Section(sb, "shape mismatch", mismatched);
                throw new CheckpointException(dirOrFile, null, sb.ToString());
            }

            long bytes = 0;
            int loaded = 0;
            // One staging buffer per stored dtype, reused for every tensor that needs converting: no
            // full-size temporary per tensor (and no allocator churn that would keep freed copies resident).
            var staging = new Dictionary<ScalarType, Tensor>();
            try
            {
                using var _ = no_grad();
                foreach (var g in groups.Where(g => g.Source is not null).OrderBy(g => files.IndexOf(g.Source!.Value.file)).ThenBy(g => g.Source!.Value.info.Begin))
                {
                    var (key, file, info, _) = g.Source!.Value;
                    bool direct = g.Tensor.device_type == TorchSharp.DeviceType.CPU && g.Tensor.dtype == info.ScalarType;
                    if (!direct && !staging.ContainsKey(info.ScalarType))
                        staging[info.ScalarType] = empty([Math.Max(1, SafetensorsFile.DefaultChunkBytes / SafetensorsFormat.ByName[info.DType].Size)], info.ScalarType, CPU);
                    file.ReadInto(key, g.Tensor, staging: direct ? null : staging[info.ScalarType]);
                    bytes += info.ByteSize;
                    loaded++;
                }
            }
            finally
            {
                foreach (var t in staging.Values) t.Dispose();
            }
            return new LoadReport(loaded, bytes, ignored, options.Strict ? [] : missing)
            {
                Unexpected = unexpected,
                TiedDuplicates = duplicates,
                OutsidePrefix = outside,
                Files = paths,
            };
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }

    /// <summary>With an index, every key it lists must be in the shard it names.</summary>
    private static void CheckIndex(string dirOrFile, List<SafetensorsFile> files)
    {
        string? index = File.Exists(dirOrFile) && dirOrFile.EndsWith(".index.json", StringComparison.Ordinal) ? dirOrFile
            : Directory.Exists(dirOrFile) && !File.Exists(Path.Combine(dirOrFile, SingleFile)) ? Path.Combine(dirOrFile, IndexFile) : null;
        if (index is null) return;
        var (map, _) = ReadIndex(index);
        var byFile = files.ToDictionary(f => Path.GetFileName(f.Path), StringComparer.Ordinal);
        foreach (var (key, file) in map)
            if (!byFile[file].Tensors.ContainsKey(key))
                throw new CheckpointException(index, key, $"the index places it in {file}, which does not contain it");
    }

    private static string Show(string name) => SafetensorsFormat.Printable(name);

    private static void Section(StringBuilder sb, string title, List<string> items)
    {
        if (items.Count == 0) return;
        sb.Append($"\n  {title} ({items.Count}):");
        foreach (var item in items.Take(ListLimit)) sb.Append("\n    ").Append(item);
        if (items.Count > ListLimit) sb.Append($"\n    ... and {items.Count - ListLimit} more");
    }

    // ------------------------------------------------------------------ saving

    /// <summary>
    /// Save a module's parameters and persistent buffers HF-style. <paramref name="dirOrFile"/> ending in
    /// `.safetensors` is written as that one file; otherwise it is a folder that gets one
    /// `model.safetensors`, or, when <paramref name="maxShardBytes"/> is exceeded, shards
    /// `model-0000i-of-0000N.safetensors` split as huggingface_hub does (in module order; a tensor larger
    /// than the limit gets a shard of its own) plus `model.safetensors.index.json`; stale files of a
    /// previous save are removed after the new ones are in place. A tied tensor is written once, under
    /// its first name (HF drops the tied copy); names in <paramref name="skip"/> are not written.
    /// Each file's metadata defaults to {"format": "pt"}, which transformers expects.
    /// </summary>
    public static void Save(nn.Module module, string dirOrFile, long? maxShardBytes = null,
        IReadOnlyDictionary<string, string>? metadata = null, ISet<string>? skip = null)
    {
        if (maxShardBytes is <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "must be positive");
        metadata ??= new Dictionary<string, string> { ["format"] = "pt" };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, t) in module.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
                     .Concat(module.named_buffers(recurse: true, include_nonpersistent: false)))
        {
            if (skip?.Contains(name) == true) continue;
            if (!seen.Add(SafetensorsFormat.IdentityKey(t))) continue;
            tensors.Add(new(name, t));
        }
        static long Size(Tensor t) => t.NumberOfElements * t.ElementSize;
        long total = tensors.Sum(kv => Size(kv.Value));

        if (dirOrFile.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            if (maxShardBytes is { } m && total > m)
                throw new ArgumentException($"{dirOrFile}: {total} bytes exceed maxShardBytes {m}; sharding needs a folder, not a .safetensors path");
            Safetensors.Save(dirOrFile, tensors, metadata);
            return;
        }

        Directory.CreateDirectory(dirOrFile);
        var shards = new List<List<KeyValuePair<string, Tensor>>>();
        if (maxShardBytes is not { } max) shards.Add(tensors);
        else
        {
            var current = new List<KeyValuePair<string, Tensor>>();
            long currentSize = 0;
            foreach (var kv in tensors)
            {
                long size = Size(kv.Value);
                if (size > max) { shards.Add([kv]); continue; }
                if (currentSize + size > max && current.Count > 0) { shards.Add(current); current = []; currentSize = 0; }
                current.Add(kv);
                currentSize += size;
            }
            if (current.Count > 0 || shards.Count == 0) shards.Add(current);
        }

        var written = new HashSet<string>(StringComparer.Ordinal);
        if (shards.Count == 1)
        {
            Safetensors.Save(Path.Combine(dirOrFile, SingleFile), shards[0], metadata);
            written.Add(SingleFile);
        }
        else
        {
            var weightMap = new List<(string name, string file)>();
            for (int i = 0; i < shards.Count; i++)
            {
                string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                Safetensors.Save(Path.Combine(dirOrFile, file), shards[i], metadata);
                written.Add(file);
                weightMap.AddRange(shards[i].Select(kv => (kv.Key, file)));
            }
            WriteAtomically(Path.Combine(dirOrFile, IndexFile), IndexJson(total, weightMap));
            written.Add(IndexFile);
        }
        foreach (var stale in Directory.EnumerateFiles(dirOrFile).Select(Path.GetFileName).Where(f => IsCheckpointFile(f!) && !written.Contains(f!)).ToList())
            Safetensors.TryDelete(Path.Combine(dirOrFile, stale!));
    }

    private static bool IsCheckpointFile(string name) =>
        name is SingleFile or IndexFile || System.Text.RegularExpressions.Regex.IsMatch(name, @"^model-\d{5}-of-\d{5}\.safetensors$");

    /// <summary>The index as transformers writes it: json.dumps(index, indent=2, sort_keys=True) + "\n".</summary>
    internal static string IndexJson(long totalSize, IEnumerable<(string name, string file)> weightMap)
    {
        var sb = new StringBuilder();
        sb.Append("{\n  \"metadata\": {\n    \"total_size\": ").Append(totalSize).Append("\n  },\n  \"weight_map\": {");
        bool first = true;
        foreach (var (name, file) in weightMap.OrderBy(x => x.name, Comparer<string>.Create(SafetensorsFormat.CompareUtf8)))
        {
            sb.Append(first ? "\n    " : ",\n    ");
            first = false;
            AppendPythonJsonString(sb, name);
            sb.Append(": ");
            AppendPythonJsonString(sb, file);
        }
        sb.Append(first ? "}\n}\n" : "\n  }\n}\n");
        return sb.ToString();
    }

    /// <summary>A string as Python's json.dumps writes it (ensure_ascii: everything outside ' '..'~' as \uXXXX).</summary>
    private static void AppendPythonJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ' || c > '~') sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    private static void WriteAtomically(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                fs.Write(Encoding.UTF8.GetBytes(text));
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            Safetensors.TryDelete(tmp);
            throw;
        }
    }
}
