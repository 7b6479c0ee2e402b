using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Generation;
using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>Decoding speed at one context length, and how close the cached decode comes to the memory-bandwidth bound.</summary>
/// <param name="KvTokensPerSecond">greedy decode steps with the KV cache (prefill excluded)</param>
/// <param name="RecomputeTokensPerSecond">one token by a full forward over the whole context, no cache</param>
/// <param name="WeightBytesPerToken">weights one decode step must read (decoder layers + the head; the embedding gather reads one row)</param>
/// <param name="KvBytesPerToken">the cache one decode step must read at this context</param>
/// <param name="ReadGbps">the read bandwidth the bound is from: a read probe of the step's bytes beside this decode (<see cref="Bench"/>), its best run</param>
/// <param name="ReadMedianGbps">the same probe's median run (0: not measured)</param>
/// <param name="TokenSeconds">each cached step's time, from the previous token to this one</param>
/// <param name="Prompt">the context's ids (random text ids)</param>
/// <param name="Generated">the greedy tokens, the first from the prefill</param>
public sealed record DecodeResult(long Context, int Tokens, double KvTokensPerSecond, double RecomputeTokensPerSecond,
                                  double PrefillTokensPerSecond, long WeightBytesPerToken, long KvBytesPerToken,
                                  double ReadGbps, long? PeakRssBytes, long[] Prompt, long[] Generated, double[] TokenSeconds, double ReadMedianGbps = 0)
{
    /// <summary>Read bandwidth / (weight + cache bytes): no decoder can read its inputs faster.</summary>
    public double BoundTokensPerSecond => ReadGbps * 1e9 / (WeightBytesPerToken + KvBytesPerToken);
    public double KvSpeedup => KvTokensPerSecond / RecomputeTokensPerSecond;

    /// <summary>The decode's mean rate against the read probe's best run: what a user gets, against the machine at its quietest.</summary>
    public double BandwidthFraction => KvTokensPerSecond / BoundTokensPerSecond;

    /// <summary>
    /// The median token against the read probe's median run: the same statistic on both sides, so a shared
    /// machine's slow moments (which stretch tokens and sums alike) weigh on neither; null without the median probe.
    /// </summary>
    public double? BandwidthFractionMedian => ReadMedianGbps > 0 && TokenSeconds.Length > 0
        ? (WeightBytesPerToken + KvBytesPerToken) / Median(TokenSeconds) / (ReadMedianGbps * 1e9)
        : null;

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}

/// <summary>
/// Text-only decoding on the stitched model through the real <see cref="Generator"/> (prefill,
/// then one cached step per token), against recomputing the whole context for each token.
/// </summary>
public static class DecodeBench
{
    public static DecodeResult Run(SmolVLMForConditionalGeneration model, long context, int tokens, int recomputeRepeats, double readGbps)
    {
        MemoryProbe.ResetPeak();
        var config = model.Config;
        var gen = new TorchSharp.torch.Generator(99, CPU);
        long textVocab = Math.Min(config.TextConfig.VocabSize, config.ImageTokenId);
        using var ids = randint(0, textVocab, new long[] { 1, context }, dtype: int64, generator: gen);

        double recompute = double.PositiveInfinity;     // not measured (0 repeats): 0 tokens/s
        if (recomputeRepeats > 0)
            using (no_grad())
                recompute = Ceilings.BestSeconds(() =>
                {
                    using var scope = NewDisposeScope();
                    var hidden = model.Hidden(ids);
                    model.Logits(hidden.select(1, context - 1));
                }, recomputeRepeats);

        // Token k arrives when step k ends: the first after the prefill, the rest one cached step each.
        var arrivals = new List<long>();
        var start = Stopwatch.GetTimestamp();
        var options = new GenerationOptions { MaxNewTokens = tokens + 1, EosTokenIds = [] };
        var prompt = ids.data<long>().ToArray();
        long[] generated;
        using (var result = SmVL.Generation.Generator.Generate(model, [prompt], null, options, (_, _) => arrivals.Add(Stopwatch.GetTimestamp())))
            generated = result.Tokens[0];
        double prefill = Stopwatch.GetElapsedTime(start, arrivals[0]).TotalSeconds;
        double decode = Stopwatch.GetElapsedTime(arrivals[0], arrivals[^1]).TotalSeconds;

        var t = config.TextConfig;
        long weights = WeightBytesPerToken(t, sizeof(float));
        long kv = KvCacheBytes(t, context, sizeof(float));
        var steps = arrivals.Zip(arrivals.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a, b).TotalSeconds).ToArray();
        return new DecodeResult(context, tokens, tokens / decode, 1.0 / recompute, context / prefill,
                                weights, kv, readGbps, MemoryProbe.PeakBytes, prompt, generated, steps);
    }

    /// <summary>Decoder-layer weights (projections and norms), the final norm and the LM head (tied or not, read once).</summary>
    public static long WeightBytesPerToken(TextConfig t, int elementSize)
    {
        long H = t.HiddenSize, q = (long)t.NumAttentionHeads * t.HeadDim, kv = (long)t.KeyValueHeads * t.HeadDim;
        long projections = H * (q + 2 * kv) + q * H + 3 * H * t.IntermediateSize;
        long norms = 2 * H + (t.UsesQkNorm ? 2L * t.HeadDim : 0);
        return elementSize * (t.NumHiddenLayers * (projections + norms) + H + (long)t.VocabSize * H);
    }

    /// <summary>What one decode step reads at <paramref name="context"/>: <see cref="WeightBytesPerToken"/> and <see cref="KvCacheBytes"/>.</summary>
    public static long BytesPerToken(TextConfig t, long context, int elementSize) =>
        WeightBytesPerToken(t, elementSize) + KvCacheBytes(t, context, elementSize);

    /// <summary>Keys and values of <paramref name="context"/> positions, all layers.</summary>
    public static long KvCacheBytes(TextConfig t, long context, int elementSize) =>
        elementSize * 2L * t.NumHiddenLayers * t.KeyValueHeads * t.HeadDim * context;
}
