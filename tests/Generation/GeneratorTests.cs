using SmVL.Checkpoints;
using SmVL.Generation;
using SmVL.Models;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Generation;

/// <summary>
/// The generator against independent references on the set-A tiny checkpoints: a full
/// recomputation loop (no cache, whole sequence every step), one-by-one runs for batches, and
/// the greedy tokens of the set-A reference file. Tiny models: vocab 512, eos id 2, image token
/// 500, 4 image tokens per 32×32 image.
/// </summary>
public class GeneratorTests(ITestOutputHelper log)
{
    private const long ImageToken = 500;
    private static readonly GenerationOptions Greedy = new() { MaxNewTokens = 10, EosTokenIds = [], PadTokenId = 2 };

    private static Qwen3ForCausalLM Lm() => Pretrained.LoadCausalLM(Fixtures.ParityA("qwen3"));
    private static SmolVLMForConditionalGeneration Vlm() => Pretrained.LoadSmolVLM(Fixtures.ParityA("smolvlm"));

    private static long[] Text(Random r, int n) => Enumerable.Range(0, n).Select(_ => (long)r.Next(3, 500)).ToArray();

    /// <summary>A prompt with <paramref name="images"/> runs of image tokens between random text.</summary>
    private static long[] VlmPrompt(Random r, int images, int imageSeqLen)
    {
        var ids = new List<long>(Text(r, r.Next(1, 5)));
        for (int i = 0; i < images; i++)
        {
            ids.AddRange(Enumerable.Repeat(ImageToken, imageSeqLen));
            ids.AddRange(Text(r, r.Next(1, 4)));
        }
        return ids.ToArray();
    }

    /// <summary>(1, n, 3, 32, 32) pixels in [-1, 1).</summary>
    private static Tensor Pixels(int n, ulong seed)
    {
        using var g = new torch.Generator(seed);
        using var scope = NewDisposeScope();
        return (rand(new long[] { 1, n, 3, 32, 32 }, generator: g) * 2 - 1).MoveToOuterDisposeScope();
    }

    /// <summary>Zero-padded (B, max n, 3, H, W) batch of per-row pixels, as a processor pads.</summary>
    private static Tensor BatchPixels(Tensor[] rows)
    {
        var batch = zeros(new long[] { rows.Length, rows.Max(p => p.shape[1]), 3, 32, 32 });
        for (int b = 0; b < rows.Length; b++) batch[b, ..(int)rows[b].shape[1]] = rows[b][0];
        return batch;
    }

    /// <summary>
    /// The reference: greedy by re-running the whole sequence each step, no cache, no mask, the
    /// repetition penalty applied by hand to the float logits.
    /// </summary>
    private static (long[] tokens, Tensor logits) FullRecompute(ICausalLM model, long[] prompt, Tensor? pixels, int n, double penalty = 1.0)
    {
        using var _ = no_grad();
        var sequence = prompt.ToList();
        var steps = new List<Tensor>();
        for (int i = 0; i < n; i++)
        {
            using var scope = NewDisposeScope();
            var last = model.Forward(tensor(sequence.ToArray()).unsqueeze(0), null, null, null, pixels)[0, -1].to(float32);
            steps.Add(last.clone().DetachFromDisposeScope());
            var scores = last.data<float>().ToArray();
            foreach (var id in sequence.Distinct())
                scores[id] = scores[id] < 0 ? (float)(scores[id] * penalty) : (float)(scores[id] / penalty);
            sequence.Add(Array.IndexOf(scores, scores.Max()));
        }
        var stacked = stack(steps.ToArray(), 0);
        foreach (var s in steps) s.Dispose();
        return (sequence.Skip(prompt.Length).ToArray(), stacked);
    }

    private void AssertClose(Tensor expected, Tensor actual, double tol, string what)
    {
        double d = Fixtures.MaxAbsDiff(actual, expected);
        log.WriteLine($"{what}: max|diff| = {d:E2}");
        Assert.True(d <= tol, $"{what}: max abs diff {d} > {tol}");
    }

    [Fact]
    public void KvCacheDecodingEqualsFullRecomputation_Qwen3()
    {
        using var lm = Lm();
        var r = new Random(11);
        foreach (var (len, penalty) in new[] { (3, 1.0), (9, 1.0), (17, 1.3) })
        {
            var prompt = Text(r, len);
            var (expected, expectedLogits) = FullRecompute(lm, prompt, null, 12, penalty);
            using var result = Generator.Generate(lm, [prompt], null, Greedy with { MaxNewTokens = 12, RepetitionPenalty = penalty, ReturnLogits = true });
            Assert.Equal(expected, result.Tokens[0]);
            AssertClose(expectedLogits, result.StepLogits![0], 1e-5, $"qwen3 prompt {len}, penalty {penalty}");
            expectedLogits.Dispose();
        }
    }

    [Fact]
    public void KvCacheDecodingEqualsFullRecomputation_SmolVLMWithImages()
    {
        using var vlm = Vlm();
        var r = new Random(12);
        foreach (var images in new[] { 1, 2, 1 })
        {
            var prompt = VlmPrompt(r, images, vlm.model.ImageSeqLen);
            using var pixels = Pixels(images, (ulong)r.Next());
            var (expected, expectedLogits) = FullRecompute(vlm, prompt, pixels, 10);
            using var result = Generator.Generate(vlm, [prompt], pixels, Greedy with { ReturnLogits = true });
            Assert.Equal(expected, result.Tokens[0]);
            AssertClose(expectedLogits, result.StepLogits![0], 1e-5, $"smolvlm {images} image(s), prompt {prompt.Length}");
            expectedLogits.Dispose();
        }
    }

    [Fact]
    public void ImagesChangeTheGeneration()
    {
        // Guards the comparison above against a generator that drops the pixels on prefill.
        using var vlm = Vlm();
        var prompt = VlmPrompt(new Random(5), 1, vlm.model.ImageSeqLen);
        using var a = Pixels(1, 1);
        using var b = Pixels(1, 2);
        using var ra = Generator.Generate(vlm, [prompt], a, Greedy with { ReturnLogits = true });
        using var rb = Generator.Generate(vlm, [prompt], b, Greedy with { ReturnLogits = true });
        Assert.True(Fixtures.MaxAbsDiff(ra.StepLogits![0][0], rb.StepLogits![0][0]) > 1e-3);
    }

    private void AssertBatchEqualsOneByOne(ICausalLM model, long[][] prompts, Tensor[]? pixels, GenerationOptions options)
    {
        var singles = prompts.Select((p, b) => Generator.Generate(model, [p], pixels?[b], options)).ToArray();
        using var batchPixels = pixels is null ? null : BatchPixels(pixels);
        using var batch = Generator.Generate(model, prompts, batchPixels, options);
        for (int b = 0; b < prompts.Length; b++)
        {
            Assert.Equal(singles[b].Tokens[0], batch.Tokens[b]);
            AssertClose(singles[b].StepLogits![0], batch.StepLogits![b], 1e-4, $"row {b} (prompt {prompts[b].Length}): {string.Join(" ", batch.Tokens[b])}");
            singles[b].Dispose();
        }
    }

    /// <summary>An eos id that row 0 first produces at step 3–5 and some other row not before step 6.</summary>
    private static GenerationOptions WithEarlyStop(ICausalLM model, long[][] prompts, Tensor[]? pixels, GenerationOptions options)
    {
        var free = prompts.Select((p, b) => { using var r = Generator.Generate(model, [p], pixels?[b], options); return r.Tokens[0]; }).ToArray();
        var eos = free[0].Where((t, k) => k >= 2 && k <= 4 && Array.IndexOf(free[0], t) == k)
                         .First(t => free.Skip(1).Any(other => !other.Take(6).Contains(t)));
        return options with { EosTokenIds = [eos] };
    }

    [Fact]
    public void BatchedLeftPaddedEqualsOneByOne_Qwen3()
    {
        using var lm = Lm();
        var r = new Random(21);
        var prompts = new[] { Text(r, 5), Text(r, 11), Text(r, 2) };
        var options = WithEarlyStop(lm, prompts, null, Greedy with { MaxNewTokens = 12, ReturnLogits = true });
        AssertBatchEqualsOneByOne(lm, prompts, null, options);
        AssertBatchEqualsOneByOne(lm, prompts, null, options with { RepetitionPenalty = 1.5 });

        using var batch = Generator.Generate(lm, prompts, null, options);
        Assert.True(batch.Tokens.Select(t => t.Length).Distinct().Count() > 1, "some row should stop early");
        Assert.Equal(options.EosTokenIds[0], batch.Tokens[0][^1]);
    }

    [Fact]
    public void BatchedLeftPaddedEqualsOneByOne_SmolVLMWithImages()
    {
        using var vlm = Vlm();
        var r = new Random(22);
        int[] images = [2, 1, 1];
        var prompts = images.Select(n => VlmPrompt(r, n, vlm.model.ImageSeqLen)).ToArray();
        var pixels = images.Select((n, i) => Pixels(n, (ulong)(100 + i))).ToArray();
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() > 1, "prompts should need padding");
        var options = WithEarlyStop(vlm, prompts, pixels, Greedy with { ReturnLogits = true });
        AssertBatchEqualsOneByOne(vlm, prompts, pixels, options);
        foreach (var p in pixels) p.Dispose();
    }

    [Fact]
    public void StopsAtEos()
    {
        using var lm = Lm();
        var prompt = Text(new Random(31), 6);
        using var free = Generator.Generate(lm, [prompt], null, Greedy with { MaxNewTokens = 12 });
        long eos = free.Tokens[0][4];
        int stop = Array.IndexOf(free.Tokens[0], eos);
        using var stopped = Generator.Generate(lm, [prompt], null, Greedy with { MaxNewTokens = 12, EosTokenIds = [eos], ReturnLogits = true });
        Assert.Equal(free.Tokens[0][..(stop + 1)], stopped.Tokens[0]);
        Assert.Equal(stop + 1, stopped.StepLogits![0].shape[0]);
    }

    [Fact]
    public void ReproducesSetAGreedyTokens()
    {
        var reference = Safetensors.Load(Fixtures.ParityA("qwen3", "reference.safetensors"));
        using var lm = Lm();
        var prompt = reference["generate.prompt_ids"].data<long>().ToArray();
        int n = (int)reference["generate.max_new_tokens"].item<long>();
        using var result = Generator.Generate(lm, [prompt], null, Greedy with { MaxNewTokens = n, ReturnLogits = true });
        Assert.Equal(reference["generate.new_token_ids"].data<long>().ToArray(), result.Tokens[0]);
        AssertClose(reference["generate.step_logits"], result.StepLogits![0], 1e-4, "set A step logits");
        foreach (var t in reference.Values) t.Dispose();
    }

    [Fact]
    public void SamplingIsReproducibleAndTemperatureToZeroIsGreedy()
    {
        using var lm = Lm();
        var prompts = new[] { Text(new Random(41), 7), Text(new Random(42), 3) };
        var sampling = Greedy with { MaxNewTokens = 20, DoSample = true, Temperature = 1.0, TopK = 50, TopP = 0.95, RepetitionPenalty = 1.1, Seed = 7 };
        using var a = Generator.Generate(lm, prompts, null, sampling);
        using var b = Generator.Generate(lm, prompts, null, sampling);
        using var c = Generator.Generate(lm, prompts, null, sampling with { Seed = 8 });
        using var greedy = Generator.Generate(lm, prompts, null, Greedy with { MaxNewTokens = 20 });
        for (int row = 0; row < prompts.Length; row++)
        {
            Assert.Equal(a.Tokens[row], b.Tokens[row]);
            Assert.NotEqual(a.Tokens[row], c.Tokens[row]);
            Assert.NotEqual(a.Tokens[row], greedy.Tokens[row]);
        }

        using var cold = Generator.Generate(lm, prompts, null, Greedy with { MaxNewTokens = 20, DoSample = true, Temperature = 1e-6, Seed = 3 });
        for (int row = 0; row < prompts.Length; row++) Assert.Equal(greedy.Tokens[row], cold.Tokens[row]);
    }

    [Fact]
    public void NoTensorLeaksAcrossATwentyTokenGeneration()
    {
        using var lm = Lm();
        var prompts = new[] { Text(new Random(51), 9), Text(new Random(52), 4) };
        var options = Greedy with { MaxNewTokens = 20, DoSample = true, TopK = 20, TopP = 0.9, RepetitionPenalty = 1.2 };
        Generator.Generate(lm, prompts, null, options).Dispose();                    // warm-up

        var live = DisposeScopeManager.Statistics;
        long before = live.ThreadTotalLiveCount;
        var perStep = new List<long>();
        using (var result = Generator.Generate(lm, prompts, null, options, (row, _) => { if (row == 0) perStep.Add(live.ThreadTotalLiveCount); }))
            Assert.Equal(20, result.Tokens[0].Length);
        log.WriteLine($"live tensors before {before}, after {live.ThreadTotalLiveCount}, per decode step {string.Join(",", perStep)}");
        Assert.Equal(before, live.ThreadTotalLiveCount);
        Assert.Single(perStep.Skip(1).Distinct());                                    // decode steps leave nothing behind

        using (var withLogits = Generator.Generate(lm, prompts, null, options with { ReturnLogits = true }))
            Assert.Equal(20, withLogits.StepLogits![1].shape[0]);
        Assert.Equal(before, live.ThreadTotalLiveCount);
    }

    /// <summary>Fake byte-level decoder for the tiny vocab: id → byte id % 256, UTF-8 with replacement.</summary>
    private static string ByteDecode(IReadOnlyList<int> ids) => System.Text.Encoding.UTF8.GetString(ids.Select(i => (byte)(i % 256)).ToArray());

    [Fact]
    public async Task StreamConcatenatesToTheFullDecode()
    {
        using var lm = Lm();
        var prompt = Text(new Random(61), 5);
        var options = Greedy with { MaxNewTokens = 30 };
        using var full = Generator.Generate(lm, [prompt], null, options);
        var chunks = new List<string>();
        await foreach (var chunk in Generator.Stream(lm, prompt, null, options, ByteDecode)) chunks.Add(chunk);
        Assert.Equal(ByteDecode(full.Tokens[0].Select(t => (int)t).ToArray()), string.Concat(chunks));
        Assert.True(chunks.Count > 1);
    }

    [Fact]
    public async Task StreamStopsWhenTheReaderStops()
    {
        using var lm = Lm();
        var prompt = Text(new Random(62), 5);
        int read = 0;
        await foreach (var _ in Generator.Stream(lm, prompt, null, Greedy with { MaxNewTokens = 500 }, ByteDecode))
            if (++read == 2) break;
        Assert.Equal(2, read);

        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in Generator.Stream(lm, prompt, null, Greedy with { MaxNewTokens = 500 }, ByteDecode, cts.Token)) cts.Cancel();
        });
    }
}
