using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>
/// A safetensors file opened for reading: 8-byte little-endian header length N, N bytes of UTF-8
/// JSON {"__metadata__": {str: str}, name: {dtype, shape, data_offsets}}, then the data section.
/// The header is untrusted input and is checked whole at <see cref="Open"/>: header length against
/// the file, JSON, dtypes, shapes, offsets inside the data section (so a truncated file is caught
/// here), byte sizes and overlaps. Every error is a <see cref="CheckpointException"/> naming the
/// file and the tensor. Tensors are then read one at a time straight into a new tensor's storage.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long _dataStart;

    public string Path { get; }
    /// <summary>Header entries by name (in the header's order).</summary>
    public IReadOnlyDictionary<string, SafetensorInfo> Tensors { get; }
    /// <summary>`__metadata__`, in the header's order (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>True when the header had a `__metadata__` entry (possibly empty).</summary>
    public bool HasMetadata { get; }
    /// <summary>Length N of the JSON header (including its padding).</summary>
    public long HeaderLength { get; }
    public long DataLength { get; }

    private SafetensorsFile(string path, SafeFileHandle handle, long headerLength, long dataLength,
        OrderedDictionary<string, SafetensorInfo> tensors, OrderedDictionary<string, string> metadata, bool hasMetadata)
    {
        Path = path; _handle = handle; HeaderLength = headerLength; _dataStart = 8 + headerLength; DataLength = dataLength;
        Tensors = tensors; Metadata = metadata; HasMetadata = hasMetadata;
    }

    public static SafetensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this reader needs a little-endian machine");
        SafeFileHandle handle;
        try { handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        { throw new CheckpointException(path, null, $"cannot open ({e.Message})", e); }
        try { return Parse(path, handle); }
        catch { handle.Dispose(); throw; }
    }

    private static SafetensorsFile Parse(string path, SafeFileHandle handle)
    {
        CheckpointException Bad(string? tensor, string problem, Exception? inner = null) => new(path, tensor, problem, inner);

        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8) throw Bad(null, $"only {fileLength} bytes: too short for a safetensors file (truncated?)");
        Span<byte> lenBytes = stackalloc byte[8];
        ReadExactly(handle, lenBytes, 0, path, null);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n < 2 || n > SafetensorsFormat.MaxHeaderBytes)
            throw Bad(null, $"header length {n} is not plausible (must be 2..{SafetensorsFormat.MaxHeaderBytes}); not a safetensors file or corrupt");
        if ((long)n > fileLength - 8)
            throw Bad(null, $"header length {n} runs past the end of the {fileLength}-byte file (truncated or corrupt)");
        long headerLength = (long)n, dataLength = fileLength - 8 - headerLength;
        var header = new byte[headerLength];
        ReadExactly(handle, header, 8, path, null);

        if (!System.Text.Unicode.Utf8.IsValid(header)) throw Bad(null, "header is not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (Exception e) when (e is JsonException or ArgumentException)
        { throw Bad(null, $"header is not valid UTF-8 JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(null, $"header is a JSON {root.ValueKind}, not an object");
            var tensors = new OrderedDictionary<string, SafetensorInfo>(StringComparer.Ordinal);
            var metadata = new OrderedDictionary<string, string>(StringComparer.Ordinal);
            bool hasMetadata = false;
            foreach (var prop in root.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (hasMetadata) throw Bad(null, "__metadata__ appears twice");
                    hasMetadata = true;
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(null, $"__metadata__ is a JSON {prop.Value.ValueKind}, not an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad(null, $"__metadata__ entry '{SafetensorsFormat.Printable(m.Name)}' is a JSON {m.Value.ValueKind}, not a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad(null, $"__metadata__ entry '{SafetensorsFormat.Printable(m.Name)}' appears twice");
                    }
                    continue;
                }
                if (tensors.ContainsKey(prop.Name)) throw Bad(prop.Name, "appears twice in the header");
                tensors.Add(prop.Name, ParseEntry(path, prop.Name, prop.Value, dataLength));
            }

            // No two tensors may share bytes (empty tensors occupy none).
            SafetensorInfo? previous = null;
            foreach (var t in tensors.Values.Where(t => t.End > t.Begin).OrderBy(t => t.Begin).ThenBy(t => t.End))
            {
                if (previous is not null && t.Begin < previous.End)
                    throw Bad(t.Name, $"data_offsets [{t.Begin}, {t.End}] overlap tensor '{SafetensorsFormat.Printable(previous.Name)}' [{previous.Begin}, {previous.End}]");
                previous = t;
            }
            return new SafetensorsFile(path, handle, headerLength, dataLength, tensors, metadata, hasMetadata);
        }
    }

    private static SafetensorInfo ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        CheckpointException Bad(string problem, Exception? inner = null) => new(path, name, problem, inner);
        if (e.ValueKind != JsonValueKind.Object) throw Bad($"header entry is a JSON {e.ValueKind}, not an object");
        if (!e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String) throw Bad("header entry has no string 'dtype'");
        string dtype = dtypeEl.GetString()!;
        if (!SafetensorsFormat.ByName.TryGetValue(dtype, out var dt))
            throw Bad($"unsupported dtype '{SafetensorsFormat.Printable(dtype)}' (supported: {string.Join(", ", SafetensorsFormat.ByName.Keys)})");
        long[] shape = Integers(e, "shape", Bad);
        long[] offsets = Integers(e, "data_offsets", Bad);
        if (offsets.Length != 2) throw Bad($"data_offsets has {offsets.Length} numbers, not 2");
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw Bad($"data_offsets [{begin}, {end}] begin after they end");
        if (end > dataLength)
            throw Bad($"data_offsets [{begin}, {end}] run past the {dataLength}-byte data section: the file is truncated or corrupt");
        long elements, bytes;
        try
        {
            elements = 1;
            foreach (var d in shape) elements = checked(elements * d);
            bytes = checked(elements * dt.Size);
        }
        catch (OverflowException ex) { throw Bad($"shape {SafetensorsFormat.ShapeString(shape)} overflows", ex); }
        if (end - begin != bytes)
            throw Bad($"data_offsets [{begin}, {end}] hold {end - begin} bytes but shape {SafetensorsFormat.ShapeString(shape)} of {dtype} needs {bytes}");
        return new SafetensorInfo(name, dtype, dt.Type, shape, begin, end);
    }

    private static long[] Integers(JsonElement e, string field, Func<string, Exception?, CheckpointException> bad)
    {
        if (!e.TryGetProperty(field, out var arr) || arr.ValueKind != JsonValueKind.Array) throw bad($"header entry has no array '{field}'", null);
        var result = new long[arr.GetArrayLength()];
        int i = 0;
        foreach (var x in arr.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out long v)) throw bad($"'{field}' holds {x.GetRawText()}, not an integer", null);
            if (v < 0) throw bad($"'{field}' holds the negative number {v}", null);
            result[i++] = v;
        }
        return result;
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long fileOffset, string path, string? tensor)
    {
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(handle, buffer, fileOffset);
            if (read <= 0) throw new CheckpointException(path, tensor, $"unexpected end of file at byte {fileOffset} (the file was truncated)");
            buffer = buffer[read..];
            fileOffset += read;
        }
    }

    public SafetensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var info) ? info : throw new CheckpointException(Path, name, "no such tensor in this file");

    /// <summary>
    /// Read one tensor: its bytes go straight from the file into a new CPU tensor of the stored dtype,
    /// converted afterwards only if <paramref name="dtype"/> differs, then moved to <paramref name="device"/>.
    /// </summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var info = Info(name);
        var t = empty(info.Shape, info.ScalarType, CPU);
        try
        {
            ReadRaw(info, t, 0);
            if (dtype is { } d && d != info.ScalarType) { var c = t.to_type(d); t.Dispose(); t = c; }
            if (device is { } dev && dev.type != TorchSharp.DeviceType.CPU) { var c = t.to(dev); t.Dispose(); t = c; }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Default size of the staging buffer <see cref="ReadInto"/> converts through.</summary>
    public const long DefaultChunkBytes = 16L << 20;

    /// <summary>
    /// Read one tensor into an existing tensor of the same shape (any dtype, any device), in place: the
    /// destination keeps its identity, so parameters shared by several modules stay shared. A
    /// contiguous CPU destination of the stored dtype receives the file's bytes directly; otherwise
    /// the data goes through a staging buffer of at most <paramref name="chunkBytes"/> bytes in the
    /// stored dtype, chunk by chunk, so no full-size temporary is ever allocated. Pass
    /// <paramref name="staging"/> (1-D, contiguous CPU, stored dtype) to reuse one buffer across calls.
    /// Call under no_grad when the destination requires grad.
    /// </summary>
    public void ReadInto(string name, Tensor destination, long chunkBytes = DefaultChunkBytes, Tensor? staging = null)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        var info = Info(name);
        if (!destination.shape.SequenceEqual(info.Shape))
            throw new CheckpointException(Path, name, $"shape {info.ShapeString} does not fit the destination's {SafetensorsFormat.ShapeString(destination.shape)}");
        if (info.ByteSize == 0) return;
        if (destination.device_type == TorchSharp.DeviceType.CPU && destination.is_contiguous() && destination.dtype == info.ScalarType)
        {
            ReadRaw(info, destination, 0);
            return;
        }
        if (!destination.is_contiguous())
        {
            using var whole = Read(name);
            destination.copy_(whole);
            return;
        }
        long elemSize = info.ByteSize / info.NumberOfElements;
        long total = info.NumberOfElements;
        long perChunk = Math.Clamp(chunkBytes / elemSize, 1, total);
        bool ownStaging = staging is null || staging.dtype != info.ScalarType || staging.device_type != TorchSharp.DeviceType.CPU
                          || !staging.is_contiguous() || staging.dim() != 1 || staging.shape[0] < 1;
        var buffer = ownStaging ? empty([perChunk], info.ScalarType, CPU) : staging!;
        if (!ownStaging) perChunk = Math.Min(perChunk, buffer.shape[0]);
        try
        {
            using var flat = destination.view(-1);
            for (long start = 0; start < total; start += perChunk)
            {
                long n = Math.Min(perChunk, total - start);
                using var src = buffer.narrow(0, 0, n);
                ReadRaw(info, src, start * elemSize);
                using var dst = flat.narrow(0, start, n);
                dst.copy_(src);
            }
        }
        finally
        {
            if (ownStaging) buffer.Dispose();
        }
    }

    /// <summary>Fill a contiguous CPU tensor of the stored dtype with the tensor's bytes from <paramref name="byteOffset"/> on.</summary>
    private void ReadRaw(SafetensorInfo info, Tensor target, long byteOffset)
    {
        long fileOffset = _dataStart + info.Begin + byteOffset;
        try
        {
            SafetensorsFormat.ForEachSpan(target, (span, at) => ReadExactly(_handle, span, fileOffset + at, Path, info.Name));
        }
        catch (IOException e) { throw new CheckpointException(Path, info.Name, $"cannot read ({e.Message})", e); }
        if (info.ScalarType == ScalarType.Bool)
            SafetensorsFormat.ForEachSpan(target, (span, _) =>
            {
                if (span.IndexOfAnyExcept((byte)0, (byte)1) is int bad and >= 0)
                    throw new CheckpointException(Path, info.Name, $"BOOL byte {span[bad]} is neither 0 nor 1");
            });
    }

    public void Dispose() => _handle.Dispose();
}
