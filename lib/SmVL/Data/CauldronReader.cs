using SmVL.Processing;

namespace SmVL.Data;

/// <summary>One row group of one parquet shard: the unit of streaming, caching and indexing.</summary>
public sealed record CauldronShard(string Subset, string File, int RowGroup, long Rows)
{
    /// <summary>A stable sample id: subset/file-stem/row-group/row.</summary>
    public string Id(int row) => $"{Subset}/{Path.GetFileNameWithoutExtension(File)}/{RowGroup}/{row}";
}

/// <summary>A row by position: index into a shard table, row within that row group (8 bytes, so a
/// shuffled index over all of the_cauldron's 1.9M rows is ~15 MB).</summary>
public readonly record struct CauldronRowRef(int Shard, int Row);

/// <summary>
/// Reads the_cauldron as published: `&lt;root&gt;/&lt;subset&gt;/&lt;split&gt;-*.parquet`. Streams row group by
/// row group (a subset is never held in memory), or reads single rows on demand with the current row
/// group cached. Every skipped row, file or subset is counted in <see cref="BadRows"/>; nothing throws
/// for bad data.
/// </summary>
public sealed class CauldronReader(string root, string split = "train", BadRowReport? badRows = null)
{
    public string Root { get; } = root;
    public string Split { get; } = split;
    public BadRowReport BadRows { get; } = badRows ?? new BadRowReport();

    private (string File, int RowGroup, IReadOnlyList<CauldronRow>? Rows)? _cached;

    /// <summary>Subset directories under the root that hold at least one shard of the split.</summary>
    public IReadOnlyList<string> Subsets() => Directory.Exists(Root)
        ? Directory.GetDirectories(Root).Where(d => ShardFiles(d).Length > 0).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList()
        : throw new DirectoryNotFoundException($"Cauldron root not found: {Root}");

    /// <summary>The subset's shard files in name order; a missing or empty subset is counted, not thrown.</summary>
    public IReadOnlyList<string> Files(string subset)
    {
        string dir = Path.Combine(Root, subset);
        if (!Directory.Exists(dir)) { BadRows.Add(subset, BadRowReason.MissingSubset, $"no directory {dir}"); return []; }
        var files = ShardFiles(dir);
        if (files.Length == 0) BadRows.Add(subset, BadRowReason.MissingSubset, $"no {Split}-*.parquet in {dir}");
        return files;
    }

    /// <summary>Row-group table of the given subsets, in subset order, file-name order, row-group order,
    /// from parquet footers only.</summary>
    public IReadOnlyList<CauldronShard> Shards(IEnumerable<string> subsets)
    {
        var shards = new List<CauldronShard>();
        foreach (var subset in subsets)
            foreach (var file in Files(subset))
                shards.AddRange(FileShards(subset, file));
        return shards;
    }

    /// <summary>Row groups of one file; an unreadable file is counted and yields none.</summary>
    public IReadOnlyList<CauldronShard> FileShards(string subset, string file)
    {
        try { return CauldronParquet.RowGroupSizes(file).Select((n, g) => new CauldronShard(subset, file, g, n)).ToList(); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            BadRows.Add(subset, BadRowReason.UnreadableFile, $"{file}: {e.Message}");
            return [];
        }
    }

    /// <summary>All good samples of a subset, streamed one row group at a time.</summary>
    public IEnumerable<VqaSample> ReadSubset(string subset, SampleOptions? options = null) =>
        ReadShards(Shards([subset]), options);

    /// <summary>All good samples of the given row groups, in order, one row group in memory at a time.</summary>
    public IEnumerable<VqaSample> ReadShards(IEnumerable<CauldronShard> shards, SampleOptions? options = null)
    {
        options ??= SampleOptions.FirstImageFirstTurn;
        foreach (var shard in shards)
        {
            var rows = RowGroup(shard);
            if (rows is null) continue;
            for (int r = 0; r < rows.Count; r++)
                if (ToSample(shard, r, rows[r], options) is { } sample) yield return sample;
        }
    }

    /// <summary>One row on demand (the current row group is cached); null when the row is bad (counted).</summary>
    public VqaSample? Read(CauldronShard shard, int row, SampleOptions? options = null)
    {
        var rows = RowGroup(shard);
        if (rows is null) return null;
        if (row < 0 || row >= rows.Count) throw new ArgumentOutOfRangeException(nameof(row), row, $"{shard.File} row group {shard.RowGroup} has {rows.Count} rows");
        return ToSample(shard, row, rows[row], options ?? SampleOptions.FirstImageFirstTurn);
    }

    /// <summary>Turns a stored row into a sample, or counts why it is unusable and returns null.</summary>
    public VqaSample? ToSample(CauldronShard shard, int row, CauldronRow raw, SampleOptions options)
    {
        string id = shard.Id(row);
        if (raw.Images is not { Count: > 0 } images) return Bad(BadRowReason.NoImage, "images list is null or empty");
        var kept = options.AllImages ? images : images.Take(1).ToList();
        var bytes = new List<byte[]>(kept.Count);
        for (int i = 0; i < kept.Count; i++)
        {
            if (kept[i].Bytes is not { Length: > 0 } b) return Bad(BadRowReason.BadImage, $"image {i} has no bytes");
            if (options.Validate)
            {
                try { ImageCodec.Decode(b, $"{id} image {i}"); }
                catch (ImageDecodeException e) { return Bad(BadRowReason.BadImage, e.Message); }
            }
            bytes.Add(b);
        }

        var texts = raw.Texts ?? [];
        var turns = (options.AllTurns ? texts : texts.Take(1))
            .Where(t => !string.IsNullOrWhiteSpace(t.User) && !string.IsNullOrWhiteSpace(t.Assistant))
            .Select(t => new QaTurn(t.User!, t.Assistant!, t.Source)).ToList();
        if (turns.Count == 0) return Bad(BadRowReason.EmptyTurns, "no turn with both a question and an answer");
        return new VqaSample(id, shard.Subset, bytes, turns);

        VqaSample? Bad(BadRowReason reason, string why)
        {
            BadRows.Add(shard.Subset, reason, $"{id}: {why}");
            return null;
        }
    }

    private IReadOnlyList<CauldronRow>? RowGroup(CauldronShard shard)
    {
        if (_cached is { } c && c.File == shard.File && c.RowGroup == shard.RowGroup) return c.Rows;
        IReadOnlyList<CauldronRow>? rows;
        try { rows = CauldronParquet.ReadRowGroup(shard.File, shard.RowGroup); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Counted once; its rows are then skipped without recounting while it stays cached.
            BadRows.Add(shard.Subset, BadRowReason.UnreadableFile, $"{shard.File} row group {shard.RowGroup} ({shard.Rows} rows lost): {e.Message}");
            rows = null;
        }
        _cached = (shard.File, shard.RowGroup, rows);
        return rows;
    }

    private string[] ShardFiles(string dir) =>
        Directory.GetFiles(dir, $"{Split}-*.parquet").Order(StringComparer.Ordinal).ToArray();
}
