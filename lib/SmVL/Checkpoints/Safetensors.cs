using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>A checkpoint file that is corrupt, truncated or does not fit the model; names the file and tensor.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One entry of a safetensors header.</summary>
public sealed record SafetensorInfo(string Name, string DType, ScalarType ScalarType, long[] Shape, long Begin, long End)
{
    public long ByteSize => End - Begin;
}

/// <summary>
/// A safetensors file opened for reading: an 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets}}, then the data. The header is untrusted: offsets, sizes,
/// overlaps, dtypes and the file length are all checked at <see cref="Open"/>, and every error
/// names the file and tensor. Tensors are read one at a time straight into their storage.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private const long MaxHeader = 100L << 20;
    private readonly FileStream _stream;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, FileStream stream, long dataStart, Dictionary<string, SafetensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _stream = stream; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
    }

    internal static readonly Dictionary<string, (ScalarType type, int size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8), ["F32"] = (ScalarType.Float32, 4), ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2), ["I64"] = (ScalarType.Int64, 8), ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2), ["I8"] = (ScalarType.Int8, 1), ["U8"] = (ScalarType.Byte, 1), ["BOOL"] = (ScalarType.Bool, 1),
    };

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            long length = stream.Length;
            if (length < 8) throw new CheckpointException($"{path}: too short for a safetensors file ({length} bytes)");
            var lenBytes = new byte[8];
            stream.ReadExactly(lenBytes);
            long headerLen = BitConverter.ToInt64(lenBytes);
            if (headerLen <= 0 || headerLen > MaxHeader || 8 + headerLen > length)
                throw new CheckpointException($"{path}: header length {headerLen} is impossible for a file of {length} bytes (corrupt or truncated)");
            var header = new byte[headerLen];
            stream.ReadExactly(header);
            JsonObject root;
            try { root = JsonNode.Parse(Encoding.UTF8.GetString(header).TrimEnd(' ', '\0'))?.AsObject() ?? throw new JsonException("null header"); }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            { throw new CheckpointException($"{path}: header is not valid JSON ({e.Message})", e); }
            long dataStart = 8 + headerLen, dataLen = length - dataStart;
            var tensors = new Dictionary<string, SafetensorInfo>();
            var metadata = new Dictionary<string, string>();
            foreach (var (name, node) in root)
            {
                if (name == "__metadata__")
                {
                    if (node is JsonObject meta) foreach (var (k, v) in meta) metadata[k] = v?.ToString() ?? "";
                    continue;
                }
                tensors[name] = ParseEntry(path, name, node, dataLen);
            }
            long cursor = 0;
            foreach (var t in tensors.Values.OrderBy(t => t.Begin).ThenBy(t => t.End))
            {
                if (t.Begin < cursor) throw new CheckpointException($"{path}: tensor '{t.Name}' overlaps the previous tensor's data");
                cursor = t.End;
            }
            return new SafetensorsFile(path, stream, dataStart, tensors, metadata);
        }
        catch { stream.Dispose(); throw; }
    }

    private static SafetensorInfo ParseEntry(string path, string name, JsonNode? node, long dataLen)
    {
        try
        {
            var dtype = node!["dtype"]!.GetValue<string>();
            if (!DTypes.TryGetValue(dtype, out var dt)) throw new CheckpointException($"{path}: tensor '{name}' has unsupported dtype '{dtype}'");
            var shape = node["shape"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            var offsets = node["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
            if (shape.Any(d => d < 0)) throw new CheckpointException($"{path}: tensor '{name}' has a negative dimension");
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLen)
                throw new CheckpointException($"{path}: tensor '{name}' data_offsets [{string.Join(", ", offsets)}] fall outside the {dataLen}-byte data section (corrupt or truncated)");
            long elements = shape.Aggregate(1L, (a, b) => checked(a * b));
            if (offsets[1] - offsets[0] != checked(elements * dt.size))
                throw new CheckpointException($"{path}: tensor '{name}' has {offsets[1] - offsets[0]} bytes but shape [{string.Join(", ", shape)}] × {dtype} needs {elements * dt.size}");
            return new SafetensorInfo(name, dtype, dt.type, shape, offsets[0], offsets[1]);
        }
        catch (CheckpointException) { throw; }
        catch (Exception e) { throw new CheckpointException($"{path}: tensor '{name}' has a malformed header entry ({e.Message})", e); }
    }

    /// <summary>Read one tensor (CPU, stored dtype unless <paramref name="dtype"/> asks to convert).</summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw new CheckpointException($"{Path}: no tensor named '{name}'");
        var t = empty(info.Shape, info.ScalarType);
        try
        {
            _stream.Seek(_dataStart + info.Begin, SeekOrigin.Begin);
            if (info.ByteSize > 0) t.ReadBytesFromStream(_stream);
        }
        catch (Exception e) { t.Dispose(); throw new CheckpointException($"{Path}: cannot read tensor '{name}' ({e.Message})", e); }
        if (dtype is { } d && d != info.ScalarType) { var c = t.to(d); t.Dispose(); t = c; }
        if (device is { } dev && dev.type != TorchSharp.DeviceType.CPU) { var c = t.to(dev); t.Dispose(); t = c; }
        return t;
    }

    public void Dispose() => _stream.Dispose();
}

/// <summary>Whole-file helpers: load every tensor, or write an HF-compatible file atomically.</summary>
public static class Safetensors
{
    public static Dictionary<string, Tensor> Load(string path, ScalarType? dtype = null)
    {
        using var file = SafetensorsFile.Open(path);
        return file.Tensors.Keys.ToDictionary(k => k, k => file.Read(k, dtype));
    }

    /// <summary>
    /// Write tensors as the Python library does: keys sorted, data in key order, header padded with
    /// spaces to 8 bytes. Written to a temp file and renamed, so readers never see half a file.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 }) header["__metadata__"] = new JsonObject(metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value))));
        long offset = 0;
        foreach (var (name, t) in items)
        {
            var dtype = SafetensorsFile.DTypes.FirstOrDefault(d => d.Value.type == t.dtype).Key
                ?? throw new CheckpointException($"{path}: tensor '{name}' has dtype {t.dtype}, which safetensors cannot store here");
            long bytes = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
                ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + bytes)),
            };
            offset += bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
        {
            fs.Write(BitConverter.GetBytes((long)padded));
            fs.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) fs.WriteByte((byte)' ');
            foreach (var (_, t) in items)
            {
                using var cpu = t.detach().cpu().contiguous();
                cpu.WriteBytesToStream(fs);
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
