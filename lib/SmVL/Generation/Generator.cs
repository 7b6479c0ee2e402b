using System.Runtime.CompilerServices;
using System.Threading.Channels;
using SmVL.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Generation;

/// <summary>
/// Autoregressive decoding as HF `generate` does it: one prefill over the left-padded prompts with
/// the image features merged in (pixel values on that step only), then one token per step from
/// the KV cache. Padding is masked and position ids are cumsum(mask) − 1, so each row generates
/// what it would alone; finished rows keep emitting pad until every row has stopped.
/// </summary>
public static class Generator
{
    /// <param name="prompts">token ids per row, unpadded, of any lengths</param>
    /// <param name="pixelValues">(B, N, 3, H, W) for the VLM, all-zero images as padding; null for text</param>
    /// <param name="onToken">called with (row, token) for every new token of an unfinished row, as it is chosen</param>
    /// <param name="cancellation">checked before each step; the cache is freed either way</param>
    public static GenerationResult Generate(ICausalLM model, IReadOnlyList<long[]> prompts, Tensor? pixelValues,
        GenerationOptions options, Action<int, long>? onToken = null, CancellationToken cancellation = default)
    {
        options.Validate();
        if (prompts.Count == 0 || prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token");
        if (pixelValues is not null && pixelValues.shape[0] != prompts.Count)
            throw new ArgumentException($"pixel values for {pixelValues.shape[0]} rows, {prompts.Count} prompts");

        int rows = prompts.Count, promptLen = prompts.Max(p => p.Length);
        var padding = prompts.Select(p => (long)(promptLen - p.Length)).ToArray();
        var device = model is nn.Module m ? m.parameters().First().device : CPU;
        var eos = options.EosTokenIds.ToHashSet();
        var tokens = Enumerable.Range(0, rows).Select(_ => new List<long>()).ToArray();
        var finished = new bool[rows];
        var steps = new List<Tensor>();
        Tensor? seen = null;

        using var noGrad = no_grad();
        // Room for the whole answer, up to the doubling the cache would reach after its first decode step anyway.
        using var cache = new KvCache(model.NumLayers, room: Math.Min((long)promptLen + options.MaxNewTokens, 2L * promptLen));
        using var rng = options.DoSample ? new torch.Generator(options.Seed, device) : null;
        try
        {
            long[] last = [];
            for (int step = 0; step < options.MaxNewTokens && !finished.All(f => f); step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var logits = (step == 0
                    ? Prefill(model, prompts, promptLen, padding, options.PadTokenId, cache, pixelValues, device)
                    : Decode(model, last, promptLen + step, padding, cache, device)).to(float32);
                if (options.ReturnLogits) steps.Add(logits.clone().DetachFromDisposeScope());
                if (options.RepetitionPenalty != 1.0) seen ??= PromptTokens(prompts, logits.shape[1], device).DetachFromDisposeScope();

                var next = Choose(logits, seen, options, rng).cpu().data<long>().ToArray();
                for (int b = 0; b < rows; b++)
                {
                    if (finished[b]) { next[b] = options.PadTokenId; continue; }
                    tokens[b].Add(next[b]);
                    onToken?.Invoke(b, next[b]);
                    finished[b] = eos.Contains(next[b]);
                }
                seen?.scatter_(1, tensor(next, rows, 1, device: device), ones(rows, 1, dtype: ScalarType.Bool, device: device));
                last = next;
            }
            return new GenerationResult(tokens.Select(t => t.ToArray()).ToArray(),
                options.ReturnLogits ? PerRow(steps, tokens.Select(t => t.Count).ToArray()) : null);
        }
        finally
        {
            seen?.Dispose();
            foreach (var t in steps) t.Dispose();
        }
    }

    /// <summary>
    /// Stream one prompt's answer as text, chunk by chunk, never splitting a character (see
    /// <see cref="TextStreamer"/>). Decoding runs on its own thread (TorchSharp's dispose scopes
    /// and grad mode are per thread), and stops, freeing its cache, when the consumer stops reading.
    /// </summary>
    /// <param name="decode">the tokenizer's decode of a whole id list, e.g. ids => tok.Decode(ids, skipSpecialTokens: true)</param>
    public static async IAsyncEnumerable<string> Stream(ICausalLM model, long[] prompt, Tensor? pixelValues, GenerationOptions options,
        Func<IReadOnlyList<int>, string> decode, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var channel = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var streamer = new TextStreamer(decode);
        void Emit(string text) { if (text.Length > 0) channel.Writer.TryWrite(text); }
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                using var result = Generate(model, [prompt], pixelValues, options with { ReturnLogits = false },
                    (_, token) => Emit(streamer.Push(token)), stop.Token);
                Emit(streamer.Flush());
                channel.Writer.Complete();
            }
            catch (Exception e) { channel.Writer.Complete(e); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await foreach (var chunk in channel.Reader.ReadAllAsync(cancellation)) yield return chunk;
        }
        finally
        {
            stop.Cancel();
            await producer;
        }
    }

    private static Tensor Prefill(ICausalLM model, IReadOnlyList<long[]> prompts, int length, long[] padding, long pad,
                                  KvCache cache, Tensor? pixelValues, Device device)
    {
        var flat = new long[prompts.Count * length];
        Array.Fill(flat, pad);
        for (int b = 0; b < prompts.Count; b++) prompts[b].CopyTo(flat, b * length + padding[b]);
        var ids = tensor(flat, prompts.Count, length, device: device);
        if (padding.All(p => p == 0)) return LastLogits(model, ids, null, cache, null, pixelValues);
        var mask = KeyMask(padding, length, device);
        var positions = mask.cumsum(1).sub_(Scalars.One).masked_fill_(mask.eq(Scalars.Zero), Scalars.One);    // HF: pads get position 1, never read
        return LastLogits(model, ids, mask, cache, positions, pixelValues);
    }

    private static Tensor Decode(ICausalLM model, long[] last, long length, long[] padding, KvCache cache, Device device)
    {
        var ids = tensor(last, last.Length, 1, device: device);
        using var team = last.Length == 1 && device.type == DeviceType.CPU ? RowParallelLinear.TeamOnly() : default;
        if (padding.All(p => p == 0)) return LastLogits(model, ids, null, cache, null, null);
        var positions = tensor(padding.Select(p => length - 1 - p).ToArray(), last.Length, 1, device: device);
        return LastLogits(model, ids, KeyMask(padding, length, device), cache, positions, null);
    }

    /// <summary>(B, length) 1/0 key mask: 0 on each row's left padding.</summary>
    private static Tensor KeyMask(long[] padding, long length, Device device) =>
        Scalars.Arange(0, length, device: device).unsqueeze(0).ge(tensor(padding, device: device).unsqueeze(1)).to(int64);

    /// <summary>
    /// Logits of the last position only (HF's logits_to_keep = 1): a 1k-token image prompt would
    /// otherwise materialise 1k × 151936 floats per row just to read the last one.
    /// </summary>
    private static Tensor LastLogits(ICausalLM model, Tensor ids, Tensor? mask, KvCache cache, Tensor? positions, Tensor? pixelValues) => model switch
    {
        SmolVLMForConditionalGeneration vlm => vlm.Logits(Last(vlm.Hidden(ids, pixelValues, mask, cache, positions))),
        Qwen3ForCausalLM lm when pixelValues is null => lm.Logits(Last(lm.model.forward(lm.Embed(ids), mask, cache, positions))),
        _ => Last(model.Forward(ids, mask, cache, positions, pixelValues)),
    };

    private static Tensor Last(Tensor x) => x.select(1, x.shape[1] - 1);

    /// <summary>(B, vocab) bool of the ids in each prompt (padding excluded, so a row is penalised as it would be alone).</summary>
    private static Tensor PromptTokens(IReadOnlyList<long[]> prompts, long vocab, Device device)
    {
        var seen = zeros(prompts.Count, vocab, dtype: ScalarType.Bool, device: device);
        for (int b = 0; b < prompts.Count; b++)
        {
            var ids = tensor(prompts[b], device: device).unsqueeze(0);
            seen[b].unsqueeze(0).scatter_(1, ids, ones(1, prompts[b].Length, dtype: ScalarType.Bool, device: device));
        }
        return seen;
    }

    private static Tensor Choose(Tensor logits, Tensor? seen, GenerationOptions o, torch.Generator? rng)
    {
        var scores = seen is null ? logits : LogitsWarpers.RepetitionPenalty(logits, seen, o.RepetitionPenalty);
        if (!o.DoSample) return scores.argmax(-1);
        if (o.Temperature != 1.0) scores = LogitsWarpers.Temperature(scores, o.Temperature);
        if (o.TopK != 0) scores = LogitsWarpers.TopK(scores, o.TopK);
        if (o.TopP < 1.0) scores = LogitsWarpers.TopP(scores, o.TopP);
        return scores.softmax(-1).multinomial(1, generator: rng).squeeze(1);
    }

    /// <summary>Row b's logits of its own steps, (tokens_b, vocab), from the per-step (B, vocab) logits.</summary>
    private static Tensor[] PerRow(List<Tensor> steps, int[] counts)
    {
        using var scope = NewDisposeScope();
        var result = new Tensor[counts.Length];
        for (int b = 0; b < counts.Length; b++)
            result[b] = counts[b] == 0
                ? empty(0, steps.Count > 0 ? steps[0].shape[1] : 0, dtype: float32)
                : stack(steps.Take(counts[b]).Select(s => s[b]).ToArray(), 0);
        foreach (var t in result) t.DetachFromDisposeScope();
        return result;
    }
}
