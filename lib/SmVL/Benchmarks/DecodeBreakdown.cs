using System.Diagnostics;
using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>Milliseconds per decoded token by part; <see cref="OverheadMs"/> is the measured token time not inside a part (the generator's own work, dispatch between parts).</summary>
public sealed record DecodeParts(double AttentionMs, double MlpMs, double NormsMs, double HeadMs, double EmbedRopeMs, double TokenMs)
{
    public double OverheadMs => Math.Max(0, TokenMs - AttentionMs - MlpMs - NormsMs - HeadMs - EmbedRopeMs);
}

/// <summary>
/// Where a cached decode step's time goes at one context: the text stack's parts run in the decode's
/// order (embedding, rotary angles, then per layer: norm, attention over a cache of the context's
/// length, norm, MLP; final norm, head) with a clock around each, every layer in turn so each part
/// reads its own weights as the real step does. These are the parts of the per-layer decode
/// (<see cref="DecodeStack"/> off), so the token time passed in is that decode's (<see cref="DecodeBench"/>).
/// </summary>
public static class DecodeBreakdown
{
    public static DecodeParts Measure(SmolVLMForConditionalGeneration model, long context, int tokens, double tokenSeconds)
    {
        var text = model.model.text_model;
        var t = text.Config;
        var gen = new TorchSharp.torch.Generator(7, CPU);
        double attention = 0, mlp = 0, norms = 0, head = 0, embed = 0;
        using var _ = no_grad();
        using var cache = new KvCache(text.layers.Count);
        using (var fill = NewDisposeScope())
            for (int i = 0; i < text.layers.Count; i++)
                cache.Append(i, randn(new long[] { 1, t.KeyValueHeads, context, t.HeadDim }, generator: gen),
                                randn(new long[] { 1, t.KeyValueHeads, context, t.HeadDim }, generator: gen));
        long vocab = Math.Min(t.VocabSize, model.Config.ImageTokenId);
        for (int step = 0; step <= tokens; step++)
        {
            using var scope = NewDisposeScope();
            using var team = RowParallelLinear.TeamOnly();      // as the generator's decode step
            var id = randint(0, vocab, new long[] { 1, 1 }, generator: gen);
            long clock = Stopwatch.GetTimestamp();
            var h = text.embed_tokens.forward(id);
            var (cos, sin) = text.Rope.Compute(Scalars.Arange(cache.SeqLen, cache.SeqLen + 1, device: CPU).unsqueeze(0));
            double e = Lap(ref clock), a = 0, m = 0, n = 0;
            foreach (var (layer, i) in text.layers.Select((l, i) => (l, i)))
            {
                var x = layer.input_layernorm.forward(h);
                n += Lap(ref clock);
                h = h.add(layer.self_attn.forward(x, cos, sin, null, cache, i), Scalars.One);
                a += Lap(ref clock);
                x = layer.post_attention_layernorm.forward(h);
                n += Lap(ref clock);
                h = h.add(layer.mlp.forward(x), Scalars.One);
                m += Lap(ref clock);
            }
            var last = text.norm.forward(h).select(1, 0);
            n += Lap(ref clock);
            model.Logits(last).argmax(-1).item<long>();
            double hd = Lap(ref clock);
            if (step == 0) continue;   // warm-up
            (attention, mlp, norms, head, embed) = (attention + a, mlp + m, norms + n, head + hd, embed + e);
        }
        return new DecodeParts(1e3 * attention / tokens, 1e3 * mlp / tokens, 1e3 * norms / tokens, 1e3 * head / tokens, 1e3 * embed / tokens, 1e3 * tokenSeconds);
    }

    private static double Lap(ref long clock)
    {
        long now = Stopwatch.GetTimestamp();
        double seconds = Stopwatch.GetElapsedTime(clock, now).TotalSeconds;
        clock = now;
        return seconds;
    }
}
