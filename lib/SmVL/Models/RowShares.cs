namespace SmVL.Models;

/// <summary>
/// The rows of one phase of a decode job (a product's rows, or the attention's kv heads) shared between
/// the threads of a <see cref="WorkerTeam"/>: each thread is dealt one contiguous share and takes it front
/// to back a chunk at a time, so its reads stay one sequential stream; a thread whose share is done takes
/// chunks from the back of the others', so a thread the machine slows down (on a shared VM one often is)
/// does not keep the rest waiting. Each share's next and end rows are one long, changed by
/// compare-and-swap, one cache line apart from the next share.
/// </summary>
internal sealed class RowShares
{
    private const int Stride = 8;     // longs per cache line
    private long[] _shares = [];
    private int _parts;

    /// <summary>Weight bytes a thread takes at a time from its share (16 rows of 1,024 floats); the tests make it one row, so threads steal all the time.</summary>
    internal static int ChunkBytes { get; set; } = 64 << 10;

    /// <summary>Deals <paramref name="rows"/> out to <paramref name="parts"/> threads, one contiguous <see cref="Block"/> each. Call when no thread is taking.</summary>
    public void Deal(int rows, int parts)
    {
        if (_shares.Length < parts * Stride) _shares = new long[parts * Stride];
        _parts = parts;
        for (int p = 0; p < parts; p++)
        {
            var (first, end) = Block(rows, parts, p);
            Volatile.Write(ref _shares[p * Stride], (long)end << 32 | (uint)first);
        }
    }

    /// <summary>The next rows for <paramref name="part"/>: up to <paramref name="chunk"/> from the front of its own share, else from the back of another's; false when none are left.</summary>
    public bool Take(int part, int chunk, out int first, out int end)
    {
        for (int k = 0; k < _parts; k++)
        {
            ref long share = ref _shares[(part + k) % _parts * Stride];
            while (true)
            {
                long seen = Volatile.Read(ref share);
                int next = (int)seen, last = (int)(seen >> 32);
                if (next >= last) break;
                (first, end) = k == 0 ? (next, Math.Min(last, next + chunk)) : (Math.Max(next, last - chunk), last);
                long left = k == 0 ? (long)last << 32 | (uint)end : (long)first << 32 | (uint)next;
                if (Interlocked.CompareExchange(ref share, left, seen) == seen) return true;
            }
        }
        first = end = 0;
        return false;
    }

    /// <summary>Rows of <paramref name="cols"/> floats in <see cref="ChunkBytes"/> (at least one): a chunk for <see cref="Take"/>.</summary>
    public static int ChunkRows(int cols) => Math.Max(1, ChunkBytes / (cols * sizeof(float)));

    /// <summary>Part <paramref name="part"/>'s rows of <paramref name="rows"/> split into <paramref name="parts"/> contiguous blocks (multiples of four, the last taking the rest).</summary>
    internal static (int First, int End) Block(int rows, int parts, int part)
    {
        int block = (rows / parts + 3) & ~3;
        int first = Math.Min(rows, part * block);
        return (first, part == parts - 1 ? rows : Math.Min(rows, first + block));
    }
}
