using System.Runtime.InteropServices;
using System.Text;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>
/// A checkpoint that is corrupt, truncated, malformed or does not fit the model. The message names
/// the file and, where there is one, the tensor; both are also available as properties.
/// </summary>
public sealed class CheckpointException : Exception
{
    public string? FilePath { get; }
    public string? TensorName { get; }

    public CheckpointException(string message, Exception? inner = null) : base(message, inner) { }

    public CheckpointException(string? filePath, string? tensorName, string problem, Exception? inner = null)
        : base(Format(filePath, tensorName, problem), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    private static string Format(string? file, string? tensor, string problem)
    {
        var sb = new StringBuilder();
        if (file is not null) sb.Append(file).Append(": ");
        if (tensor is not null) sb.Append("tensor '").Append(SafetensorsFormat.Printable(tensor)).Append("': ");
        return sb.Append(problem).ToString();
    }
}

/// <summary>One entry of a safetensors header; offsets are relative to the start of the data section.</summary>
public sealed record SafetensorInfo(string Name, string DType, ScalarType ScalarType, long[] Shape, long Begin, long End)
{
    public long ByteSize => End - Begin;
    public long NumberOfElements => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeString => SafetensorsFormat.ShapeString(Shape);
}

/// <summary>The dtype table and the little pieces of the format shared by the reader and writer.</summary>
internal static class SafetensorsFormat
{
    /// <summary>The Python/Rust library's limit on the JSON header (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    internal readonly record struct DTypeInfo(string Name, ScalarType Type, int Size, int Rank);

    // Rank = position in the Rust library's `Dtype` enum, whose order it sorts by (descending) when writing.
    private static readonly DTypeInfo[] Table =
    [
        new("BOOL", ScalarType.Bool, 1, 0),
        new("U8", ScalarType.Byte, 1, 4),
        new("I8", ScalarType.Int8, 1, 5),
        new("I16", ScalarType.Int16, 2, 11),
        new("F16", ScalarType.Float16, 2, 13),
        new("BF16", ScalarType.BFloat16, 2, 14),
        new("I32", ScalarType.Int32, 4, 15),
        new("F32", ScalarType.Float32, 4, 17),
        new("F64", ScalarType.Float64, 8, 19),
        new("I64", ScalarType.Int64, 8, 20),
    ];

    public static readonly IReadOnlyDictionary<string, DTypeInfo> ByName = Table.ToDictionary(d => d.Name, StringComparer.Ordinal);
    public static readonly IReadOnlyDictionary<ScalarType, DTypeInfo> ByType = Table.ToDictionary(d => d.Type);

    public static string ShapeString(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>A name as it may safely appear in a message (control characters escaped, long names cut).</summary>
    public static string Printable(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s.Length > 300 ? s[..300] : s)
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}"); else sb.Append(c);
        if (s.Length > 300) sb.Append("...");
        return sb.ToString();
    }

    /// <summary>
    /// Visit the raw bytes of a contiguous CPU tensor in spans of at most ~1 GiB (a Span holds at
    /// most 2 GiB), with each span's byte offset inside the tensor.
    /// </summary>
    public static void ForEachSpan(Tensor t, SpanVisitor visit)
    {
        if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
            throw new InvalidOperationException("internal: raw access needs a contiguous CPU tensor");
        long elem = t.ElementSize, total = t.NumberOfElements * elem;
        if (total == 0) return;
        if (total <= int.MaxValue) { visit(t.bytes, 0); return; }
        long perChunk = Math.Max(1, (1L << 30) / elem);
        using var flat = t.view(-1);
        for (long start = 0; start < t.NumberOfElements; start += perChunk)
        {
            using var chunk = flat.narrow(0, start, Math.Min(perChunk, t.NumberOfElements - start));
            visit(chunk.bytes, start * elem);
        }
    }

    internal delegate void SpanVisitor(Span<byte> span, long byteOffset);

    /// <summary>
    /// Identity of a tensor's memory: two entries with the same key are the same tensor (a tie).
    /// CPU tensors are compared by data pointer, dtype, shape and strides, so two Parameter objects
    /// over one storage count as tied; other devices fall back to the handle.
    /// </summary>
    public static string IdentityKey(Tensor t)
    {
        if (t.device_type == TorchSharp.DeviceType.CPU && t.NumberOfElements > 0 && t.is_contiguous())
        {
            using var flat = t.view(-1);
            using var first = flat.narrow(0, 0, 1);
            nint ptr;
            unsafe { ptr = (nint)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetReference(first.bytes)); }
            return $"cpu:{ptr:x}:{t.dtype}:{string.Join(",", t.shape)}:{string.Join(",", t.stride())}";
        }
        return $"handle:{t.Handle:x}";
    }

    /// <summary>Ordinal comparison of the UTF-8 encodings (Rust's `String` order), not of UTF-16 units.</summary>
    public static int CompareUtf8(string a, string b) =>
        Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b));

    /// <summary>A JSON string literal escaped exactly as serde_json does (only `"`, `\` and control characters).</summary>
    public static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u00").Append(((int)c).ToString("x2"));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
