using System.Collections;
using System.Text.Json.Serialization;
using Parquet;
using Parquet.Serialization;

namespace SmVL.Data;

/// <summary>One element of the `images` column: encoded bytes and an optional original path.</summary>
public sealed record CauldronImage(byte[]? Bytes, string? Path);

/// <summary>One element of the `texts` column.</summary>
public sealed record CauldronText(string? User, string? Assistant, string? Source);

/// <summary>One parquet row in the_cauldron schema, exactly as stored (nulls and empty lists kept).</summary>
public sealed record CauldronRow(IReadOnlyList<CauldronImage>? Images, IReadOnlyList<CauldronText>? Texts);

/// <summary>
/// the_cauldron's parquet layout: `images: list&lt;struct{bytes: binary, path: string}&gt;`,
/// `texts: list&lt;struct{user, assistant, source: string}&gt;`. Reading is untyped so the list's
/// inner names ("element" from current pyarrow, "item" from older writers) do not matter: Parquet.Net's
/// typed reader fails on "item". The API is synchronous: the files are local and callers (trainer,
/// notebooks) want plain enumerables; Parquet.Net's async is only I/O, so blocking here is safe.
/// </summary>
public static class CauldronParquet
{
    /// <summary>Rows per row group of each file, from the footer only (no column data is read).</summary>
    public static long[] RowGroupSizes(string path) => Run(async () =>
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        return reader.RowGroups.Select(g => g.RowCount).ToArray();
    });

    /// <summary>All rows of one row group; the unit the reader streams and caches.</summary>
    public static IReadOnlyList<CauldronRow> ReadRowGroup(string path, int rowGroup) => Run(async () =>
    {
        await using var stream = File.OpenRead(path);
        var result = await ParquetSerializer.DeserializeUntypedAsync(stream, null, rowGroup);
        return (IReadOnlyList<CauldronRow>)result.Data.Select(ToRow).ToList();
    });

    /// <summary>
    /// Writes rows in row groups of <paramref name="rowGroupSize"/>, one group in memory at a time.
    /// Output depends only on the rows (byte-identical reruns).
    /// </summary>
    public static void Write(string path, IEnumerable<CauldronRow> rows, int rowGroupSize = 1024)
    {
        var writer = new CauldronParquetWriter(path);
        foreach (var chunk in rows.Chunk(rowGroupSize)) writer.WriteRowGroup(chunk);
        writer.Complete();
    }

    internal static void WriteRowGroup(string path, IEnumerable<CauldronRow> rows, bool append) => Run(async () =>
    {
        await using var stream = new FileStream(path, append ? FileMode.Open : FileMode.Create, FileAccess.ReadWrite);
        await ParquetSerializer.SerializeAsync(rows.Select(Stored.From), stream, new ParquetOptions { Append = append, CompressionMethod = CompressionMethod.Snappy });
        return 0;
    });

    private static CauldronRow ToRow(IDictionary<string, object> d) => new(
        List(d, "images", e => new CauldronImage(Field(e, "bytes") switch
        {
            byte[] b => b,
            ReadOnlyMemory<byte> m => m.ToArray(),
            null => null,
            var other => throw new InvalidDataException($"images.bytes has unexpected type {other.GetType()}"),
        }, Field(e, "path") as string)),
        List(d, "texts", e => new CauldronText(Field(e, "user") as string, Field(e, "assistant") as string, Field(e, "source") as string)));

    // Parquet.Net leaves null fields out of the dictionary.
    private static object? Field(IDictionary<string, object>? d, string key) => d is not null && d.TryGetValue(key, out var v) ? v : null;

    private static IReadOnlyList<T>? List<T>(IDictionary<string, object> d, string column, Func<IDictionary<string, object>?, T> map) =>
        Field(d, column) is IList list ? list.Cast<object?>().Select(e => map(e as IDictionary<string, object>)).ToList() : null;

    internal static T Run<T>(Func<Task<T>> f) => f().GetAwaiter().GetResult();

    // Typed classes for writing: they produce the standard 3-level LIST layout pyarrow writes.
    private sealed class Stored
    {
        [JsonPropertyName("images")] public List<StoredImage>? Images { get; set; }
        [JsonPropertyName("texts")] public List<StoredText>? Texts { get; set; }
        public static Stored From(CauldronRow r) => new()
        {
            Images = r.Images?.Select(i => new StoredImage { Bytes = i.Bytes, Path = i.Path }).ToList(),
            Texts = r.Texts?.Select(t => new StoredText { User = t.User, Assistant = t.Assistant, Source = t.Source }).ToList(),
        };
    }
    private sealed class StoredImage
    {
        [JsonPropertyName("bytes")] public byte[]? Bytes { get; set; }
        [JsonPropertyName("path")] public string? Path { get; set; }
    }
    private sealed class StoredText
    {
        [JsonPropertyName("user")] public string? User { get; set; }
        [JsonPropertyName("assistant")] public string? Assistant { get; set; }
        [JsonPropertyName("source")] public string? Source { get; set; }
    }
}

/// <summary>Writes a Cauldron-schema parquet file row group by row group (each call appends one).</summary>
public sealed class CauldronParquetWriter
{
    private readonly string _path;
    private bool _started;

    public CauldronParquetWriter(string path)
    {
        _path = path;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public void WriteRowGroup(IReadOnlyCollection<CauldronRow> rows)
    {
        if (rows.Count == 0) return;
        CauldronParquet.WriteRowGroup(_path, rows, append: _started);
        _started = true;
    }

    /// <summary>Leaves a valid (empty) file behind when no row was written.</summary>
    public void Complete()
    {
        if (!_started) CauldronParquet.WriteRowGroup(_path, [], append: false);
        _started = true;
    }
}
