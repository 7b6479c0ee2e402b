namespace SmVL.Data;

/// <summary>
/// SplitMix64: a tiny PRNG whose output is fixed by this file, unlike System.Random whose seeded
/// sequence is an implementation detail of the runtime. Data selection and TinyWorld must give the
/// same bytes on every machine and .NET version.
/// </summary>
public sealed class SeededRandom
{
    private ulong _state;

    /// <param name="stream">Independent streams from one seed (e.g. train = 0, eval = 1).</param>
    public SeededRandom(long seed, long stream = 0) => _state = Mix((ulong)seed) ^ Mix((ulong)stream + 0x632BE59BD9B4E019UL);

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, n), unbiased (rejection of the short last bucket).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong limit = ulong.MaxValue - ulong.MaxValue % (ulong)n;
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (int)(x % (ulong)n);
    }

    public int NextInt(int lo, int hiInclusive) => lo + NextInt(hiInclusive - lo + 1);

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public double NextDouble(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Fisher-Yates in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
