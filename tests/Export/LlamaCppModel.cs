using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using SmVL.Export;

namespace SmVL.Tests.Export;

/// <summary>A GGUF loaded by llama.cpp (LLamaSharp, CPU): its tokenizer and its own greedy decoding, with each step's logits.</summary>
public sealed class LlamaCppModel : IDisposable
{
    public LLamaWeights Weights { get; }
    public LLamaContext Context { get; }

    private LlamaCppModel(LLamaWeights weights, LLamaContext context) => (Weights, Context) = (weights, context);

    public static LlamaCppModel Load(string path, uint contextSize = 512)
    {
        LlamaCpp.Start();
        // Float32 attention: llama.cpp's default f16 KV cache, and its CPU flash attention even over an f32 cache,
        // round an f32 model's attention (measured here: logits off by ~5e-3 with flash attention, ~1e-5 without).
        var p = new ModelParams(path)
        {
            ContextSize = contextSize, GpuLayerCount = 0, BatchSize = contextSize, Threads = 2,
            TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        var weights = LLamaWeights.LoadFromFile(p);
        return new LlamaCppModel(weights, weights.CreateContext(p));
    }

    /// <summary>llama.cpp's tokenization (special tokens parsed, no BOS added: the GGUF says add_bos_token=false).</summary>
    public long[] Tokenize(string text) =>
        Weights.Tokenize(text, add_bos: Weights.Vocab.ShouldAddBOS, special: true, Encoding.UTF8).Select(t => (long)(int)t).ToArray();

    /// <summary>
    /// <paramref name="count"/> new tokens by argmax over llama.cpp's logits, the prompt decoded in
    /// one batch, then one token per step from its KV cache; the logits of every step are returned.
    /// </summary>
    public (long[] Tokens, float[][] Logits) Greedy(long[] prompt, int count)
    {
        var handle = Context.NativeHandle;
        handle.MemoryClear();
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add((int)prompt[i], i, (LLamaSeqId)0, logits: i == prompt.Length - 1);
        var tokens = new long[count];
        var logits = new float[count][];
        int position = prompt.Length;
        for (int step = 0; step < count; step++)
        {
            var result = handle.Decode(batch);
            if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {result}");
            logits[step] = handle.GetLogitsIth(batch.TokenCount - 1).ToArray();
            tokens[step] = ArgMax(logits[step]);
            batch.Clear();
            batch.Add((int)tokens[step], position++, (LLamaSeqId)0, logits: true);
        }
        return (tokens, logits);
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        Context.Dispose();
        Weights.Dispose();
    }
}
