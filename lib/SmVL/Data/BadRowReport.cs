using System.Text;

namespace SmVL.Data;

/// <summary>Why a row (or a whole subset/file) was skipped.</summary>
public enum BadRowReason
{
    /// <summary>The subset directory is missing or holds no parquet shard (counted per subset).</summary>
    MissingSubset,
    /// <summary>A parquet file or row group failed to open or read (counted per file/row group).</summary>
    UnreadableFile,
    /// <summary>The images list is null or empty.</summary>
    NoImage,
    /// <summary>A kept image has no bytes or does not decode.</summary>
    BadImage,
    /// <summary>The kept turn(s) are null or have an empty question or answer.</summary>
    EmptyTurns,
}

/// <summary>
/// Counts of skipped rows per subset and reason, with the first few details of each. The reference
/// silently lost six subsets to a try/except around load_dataset; here every loss is counted and
/// <see cref="ToString"/> prints it as a table.
/// </summary>
public sealed class BadRowReport
{
    private const int ExamplesPerReason = 5;
    private readonly Dictionary<(string Subset, BadRowReason Reason), long> _counts = new();
    private readonly Dictionary<BadRowReason, List<string>> _examples = new();
    private readonly object _lock = new();

    public void Add(string subset, BadRowReason reason, string detail)
    {
        lock (_lock)
        {
            _counts[(subset, reason)] = _counts.GetValueOrDefault((subset, reason)) + 1;
            if (!_examples.TryGetValue(reason, out var list)) _examples[reason] = list = new();
            if (list.Count < ExamplesPerReason) list.Add(detail);
        }
    }

    public long Count(string subset, BadRowReason reason) { lock (_lock) return _counts.GetValueOrDefault((subset, reason)); }
    public long Count(BadRowReason reason) { lock (_lock) return _counts.Where(kv => kv.Key.Reason == reason).Sum(kv => kv.Value); }
    public long Total { get { lock (_lock) return _counts.Values.Sum(); } }
    public IReadOnlyList<string> Examples(BadRowReason reason) { lock (_lock) return _examples.TryGetValue(reason, out var l) ? l.ToList() : []; }

    public override string ToString()
    {
        lock (_lock)
        {
            if (_counts.Count == 0) return "bad rows: none";
            var reasons = Enum.GetValues<BadRowReason>();
            var sb = new StringBuilder("bad rows (MissingSubset counts subsets, UnreadableFile counts files or row groups, the rest count rows)\n");
            sb.Append($"{"subset",-28}").AppendJoin("", reasons.Select(r => $"{r,15}")).AppendLine();
            foreach (var subset in _counts.Keys.Select(k => k.Subset).Distinct().Order(StringComparer.Ordinal))
                sb.Append($"{subset,-28}").AppendJoin("", reasons.Select(r => $"{_counts.GetValueOrDefault((subset, r)),15}")).AppendLine();
            foreach (var (reason, list) in _examples.OrderBy(kv => kv.Key))
                foreach (var detail in list) sb.AppendLine($"  {reason}: {detail}");
            return sb.ToString().TrimEnd();
        }
    }
}
