using System.Buffers.Binary;
using System.Text;
using static TorchSharp.torch;

namespace SmVL.Checkpoints;

/// <summary>Whole-file helpers: load every tensor of a file, or write an HF-compatible file atomically.</summary>
public static class Safetensors
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Every tensor of the file, in header order (CPU; converted to <paramref name="dtype"/> if given).</summary>
    public static Dictionary<string, Tensor> Load(string path, ScalarType? dtype = null)
    {
        using var file = SafetensorsFile.Open(path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in file.Tensors.Keys) result.Add(name, file.Read(name, dtype));
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Write tensors exactly as the Python/Rust safetensors library lays them out: entries sorted by
    /// dtype (widest first, in the library's dtype order) then by name (UTF-8 byte order), data
    /// packed in that order, compact JSON with `__metadata__` first (in the caller's order), header
    /// padded with spaces to a multiple of 8. <paramref name="metadata"/> null writes no
    /// `__metadata__`. Tensors may live on any device and need not be contiguous: each is copied to a
    /// contiguous CPU tensor one at a time while writing. The file is written beside the target
    /// under a temporary name, flushed to disk and renamed over it, so readers never see half a file.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian; this writer needs a little-endian machine");
        var entries = new List<(string name, Tensor tensor, SafetensorsFormat.DTypeInfo dt, long bytes)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in tensors)
        {
            if (name is null) throw new CheckpointException(path, null, "a tensor has a null name");
            if (name == "__metadata__") throw new CheckpointException(path, name, "'__metadata__' is reserved and cannot name a tensor");
            if (!names.Add(name)) throw new CheckpointException(path, name, "is given twice");
            if (t is null || t.IsInvalid) throw new CheckpointException(path, name, "is null or disposed");
            try { StrictUtf8.GetByteCount(name); }
            catch (ArgumentException e) { throw new CheckpointException(path, name, "name is not valid Unicode (lone surrogate)", e); }
            if (!SafetensorsFormat.ByType.TryGetValue(t.dtype, out var dt))
                throw new CheckpointException(path, name, $"dtype {t.dtype} cannot be stored (supported: {string.Join(", ", SafetensorsFormat.ByName.Keys)})");
            entries.Add((name, t, dt, checked(t.NumberOfElements * dt.Size)));
        }
        entries.Sort((a, b) => a.dt.Rank != b.dt.Rank ? b.dt.Rank.CompareTo(a.dt.Rank) : SafetensorsFormat.CompareUtf8(a.name, b.name));

        byte[] header = BuildHeader(entries.Select(e => (e.name, e.dt.Name, e.tensor.shape, e.bytes)), metadata, path);

        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var (name, t, _, bytes) in entries)
                {
                    if (bytes == 0) continue;
                    Tensor data = t;
                    bool owned = false;
                    if (t.device_type != TorchSharp.DeviceType.CPU || !t.is_contiguous())
                    {
                        using var detached = t.detach();
                        using var cpu = detached.cpu();
                        data = cpu.contiguous();
                        owned = true;
                    }
                    try { SafetensorsFormat.ForEachSpan(data, (span, _) => fs.Write(span)); }
                    finally { if (owned) data.Dispose(); }
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw new CheckpointException(path, null, $"cannot write ({e.Message})", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The padded JSON header for entries already in file order (offsets follow from the order).</summary>
    internal static byte[] BuildHeader(IEnumerable<(string name, string dtype, long[] shape, long bytes)> entries,
        IReadOnlyDictionary<string, string>? metadata, string pathForErrors)
    {
        var sb = new StringBuilder("{");
        bool first = true;
        if (metadata is not null)
        {
            sb.Append("\"__metadata__\":{");
            bool firstMeta = true;
            foreach (var (k, v) in metadata)
            {
                if (k is null || v is null) throw new CheckpointException(pathForErrors, null, "metadata keys and values must not be null");
                if (!firstMeta) sb.Append(',');
                firstMeta = false;
                SafetensorsFormat.AppendJsonString(sb, k);
                sb.Append(':');
                SafetensorsFormat.AppendJsonString(sb, v);
            }
            sb.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (var (name, dtype, shape, bytes) in entries)
        {
            if (!first) sb.Append(',');
            first = false;
            SafetensorsFormat.AppendJsonString(sb, name);
            sb.Append(":{\"dtype\":\"").Append(dtype).Append("\",\"shape\":[").Append(string.Join(",", shape))
              .Append("],\"data_offsets\":[").Append(offset).Append(',').Append(offset + bytes).Append("]}");
            offset += bytes;
        }
        sb.Append('}');
        byte[] json;
        try { json = StrictUtf8.GetBytes(sb.ToString()); }
        catch (ArgumentException e) { throw new CheckpointException(pathForErrors, null, "metadata is not valid Unicode (lone surrogate)", e); }
        int padded = (json.Length + 7) / 8 * 8;
        if (padded > SafetensorsFormat.MaxHeaderBytes) throw new CheckpointException(pathForErrors, null, $"header would be {padded} bytes, over the format's {SafetensorsFormat.MaxHeaderBytes}-byte limit");
        var result = new byte[padded];
        json.CopyTo(result, 0);
        result.AsSpan(json.Length).Fill((byte)' ');
        return result;
    }

    internal static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
