using System.Text;
using SmVL.Checkpoints;
using static TorchSharp.torch;

namespace SmVL.Export;

/// <summary>The tensor element types this writer produces (ggml_type ids); quantized types come from llama.cpp's own quantizer.</summary>
public enum GgmlType : uint { F32 = 0, F16 = 1 }

/// <summary>
/// A GGUF v3 file as llama.cpp's gguf.cpp reads it (docs/gguf-export-research.md §1): magic,
/// version, counts, typed key/value metadata, tensor infos (shape innermost-first, type, offset),
/// then the tensor data, each tensor padded to the 32-byte alignment, in info order. Little-endian
/// throughout. Tensors are added as loaders and read one at a time while writing, so a full-size
/// model is never held twice in memory.
/// </summary>
public sealed class GgufWriter
{
    public const int Alignment = 32;

    // gguf_type ids of the value kinds written here.
    private const uint UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9;

    private readonly List<(string Key, Action<BinaryWriter> Value)> _metadata = [];
    private readonly List<(string Name, long[] Shape, GgmlType Type, Func<Tensor> Load)> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal), _names = new(StringComparer.Ordinal);

    public void Add(string key, string value) => AddValue(key, w => { w.Write(String); WriteString(w, value); });
    public void Add(string key, uint value) => AddValue(key, w => { w.Write(UInt32); w.Write(value); });
    public void Add(string key, float value) => AddValue(key, w => { w.Write(Float32); w.Write(value); });
    public void Add(string key, bool value) => AddValue(key, w => { w.Write(Bool); w.Write(value); });
    public void Add(string key, IReadOnlyList<string> values) => AddArray(key, String, values, WriteString);
    public void Add(string key, IReadOnlyList<int> values) => AddArray(key, Int32, values, (w, v) => w.Write(v));
    public void Add(string key, IReadOnlyList<float> values) => AddArray(key, Float32, values, (w, v) => w.Write(v));

    /// <summary>
    /// A tensor of PyTorch shape <paramref name="shape"/> (outermost first; written innermost first,
    /// as ggml's ne), stored as <paramref name="type"/>. <paramref name="load"/> is called once while
    /// writing; its result is converted to the stored type and disposed.
    /// </summary>
    public void AddTensor(string name, long[] shape, GgmlType type, Func<Tensor> load)
    {
        if (Encoding.UTF8.GetByteCount(name) >= 64) throw new ArgumentException($"GGUF tensor name '{name}' must be shorter than 64 bytes (GGML_MAX_NAME)");
        if (shape.Length is 0 or > 4) throw new ArgumentException($"GGUF tensor '{name}' has {shape.Length} dimensions; ggml holds 1 to 4");
        if (!_names.Add(name)) throw new ArgumentException($"GGUF tensor '{name}' is added twice");
        _tensors.Add((name, shape, type, load));
    }

    /// <summary>Write the file beside <paramref name="path"/> under a temporary name and rename it over the target.</summary>
    public void Write(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(fs, Encoding.UTF8, leaveOpen: true))
            {
                w.Write("GGUF"u8);
                w.Write(3u);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_metadata.Count);
                foreach (var (key, value) in _metadata) { WriteString(w, key); value(w); }

                ulong offset = 0;
                foreach (var (name, shape, type, _) in _tensors)
                {
                    WriteString(w, name);
                    w.Write((uint)shape.Length);
                    for (int i = shape.Length - 1; i >= 0; i--) w.Write(shape[i]);
                    w.Write((uint)type);
                    w.Write(offset);
                    offset += Padded((ulong)(shape.Aggregate(1L, (a, b) => a * b) * ElementSize(type)));
                }
                Pad(w);

                foreach (var (name, shape, type, load) in _tensors)
                {
                    using var scope = NewDisposeScope();
                    var data = load().detach().cpu().to(type == GgmlType.F32 ? ScalarType.Float32 : ScalarType.Float16).contiguous();
                    if (!data.shape.SequenceEqual(shape))
                        throw new InvalidOperationException($"GGUF tensor '{name}': declared shape [{string.Join(", ", shape)}], loaded [{string.Join(", ", data.shape)}]");
                    w.Flush();
                    SafetensorsFormat.ForEachSpan(data, (span, _) => fs.Write(span));
                    Pad(w);
                }
                w.Flush();
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }

    private static int ElementSize(GgmlType type) => type == GgmlType.F32 ? 4 : 2;

    private static ulong Padded(ulong n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        w.Flush();
        ulong position = (ulong)w.BaseStream.Position;
        w.Write(new byte[Padded(position) - position]);
    }

    /// <summary>GGUF strings: u64 byte length, UTF-8 bytes, no terminator.</summary>
    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private void AddValue(string key, Action<BinaryWriter> value)
    {
        if (string.IsNullOrEmpty(key) || !_keys.Add(key)) throw new ArgumentException($"GGUF key '{key}' is empty or added twice");
        _metadata.Add((key, value));
    }

    private void AddArray<T>(string key, uint elementType, IReadOnlyList<T> values, Action<BinaryWriter, T> write) =>
        AddValue(key, w =>
        {
            w.Write(Array);
            w.Write(elementType);
            w.Write((ulong)values.Count);
            foreach (var v in values) write(w, v);
        });
}
