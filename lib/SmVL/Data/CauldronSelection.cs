namespace SmVL.Data;

/// <summary>
/// A recipe applied to a Cauldron directory. Like the reference's train_test_split(64, shuffle, seed),
/// rows from all subsets are pooled and permuted, the first ones become eval and the following ones
/// training; but what is shuffled is an index of (subset, file, row group, row) built from parquet
/// footers, and rows are read on demand, so the dataset never has to fit in memory. (The permutation
/// is SplitMix64 Fisher-Yates, not numpy's, so the ids differ from the reference's.) A bad row is
/// counted and the next row in the permutation takes its place.
/// </summary>
public sealed class CauldronSelection
{
    private readonly CauldronReader _reader;
    private readonly CauldronRowRef[] _order;
    private List<VqaSample>? _eval;
    private int _evalEnd;

    internal CauldronSelection(CauldronRecipe recipe, CauldronReader reader)
    {
        Recipe = recipe;
        _reader = reader;
        Shards = reader.Shards(recipe.Subsets);
        long total = Shards.Sum(s => s.Rows);
        if (total > Array.MaxLength) throw new InvalidOperationException($"{total} rows exceed one index array");
        _order = new CauldronRowRef[total];
        int k = 0;
        for (int s = 0; s < Shards.Count; s++)
            for (int r = 0; r < Shards[s].Rows; r++) _order[k++] = new CauldronRowRef(s, r);
        new SeededRandom(recipe.Seed).Shuffle(_order.AsSpan());
    }

    public CauldronRecipe Recipe { get; }
    public IReadOnlyList<CauldronShard> Shards { get; }
    public BadRowReport BadRows => _reader.BadRows;

    /// <summary>Rows in the pooled index (good and bad).</summary>
    public long TotalRows => _order.Length;

    /// <summary>The shuffled row index; eval and training samples are read along it.</summary>
    public IReadOnlyList<CauldronRowRef> Order => _order;

    public string Id(CauldronRowRef r) => Shards[r.Shard].Id(r.Row);

    /// <summary>The first <see cref="CauldronRecipe.EvalCount"/> good rows of the permutation (read once, kept).</summary>
    public IReadOnlyList<VqaSample> Eval()
    {
        if (_eval is null)
        {
            var (samples, end) = Walk(0, Recipe.EvalCount);
            _eval = samples.ToList();
            _evalEnd = end;
        }
        return _eval;
    }

    /// <summary>Training samples in order: the good rows after the eval ones, up to
    /// <see cref="CauldronRecipe.TrainCount"/> (fewer if the data runs out). Lazy; one row group cached.</summary>
    public IEnumerable<VqaSample> Train() => TrainSequence.From(null).Select(x => x.Sample);

    /// <summary>
    /// <see cref="Train"/> as a resumable sequence. A token is "permutation index:samples so far", so
    /// reading on from it touches only the rows after it.
    /// </summary>
    public ISampleSequence TrainSequence => new TrainRows(this);

    private sealed class TrainRows(CauldronSelection selection) : ISampleSequence
    {
        public IEnumerable<(VqaSample Sample, string Token)> From(string? after)
        {
            selection.Eval();
            int want = selection.Recipe.TrainCount ?? int.MaxValue, start = selection._evalEnd, n = 0;
            if (after is not null)
            {
                var parts = after.Split(':');
                if (parts.Length != 2 || !int.TryParse(parts[0], out int i) || !int.TryParse(parts[1], out n) || i < selection._evalEnd || i >= selection._order.Length)
                    throw new InvalidDataException($"'{after}' is not a training position of this selection (rows {selection._evalEnd}..{selection._order.Length - 1})");
                start = i + 1;
            }
            for (int i = start; i < selection._order.Length && n < want; i++)
                if (selection.Read(selection._order[i]) is { } s) { n++; yield return (s, $"{i}:{n}"); }
        }
    }

    private (List<VqaSample> Samples, int End) Walk(int start, int count)
    {
        var samples = new List<VqaSample>(count);
        int i = start;
        for (; i < _order.Length && samples.Count < count; i++)
            if (Read(_order[i]) is { } s) samples.Add(s);
        return (samples, i);
    }

    private VqaSample? Read(CauldronRowRef r) => _reader.Read(Shards[r.Shard], r.Row, Recipe.Options);
}
