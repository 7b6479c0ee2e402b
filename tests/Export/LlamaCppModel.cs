using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using SmVL.Export;

namespace SmVL.Tests.Export;

/// <summary>A GGUF loaded by llama.cpp (LLamaSharp, CPU): its tokenizer, text and mtmd image chunks decoded into its KV cache, and greedy decoding with each step's logits.</summary>
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

    /// <summary>Where the next token or image goes (tokens and image embeddings in the KV cache so far).</summary>
    public int Position => _position;
    private int _position;

    /// <summary>Empty the KV cache: the next prompt starts at position 0.</summary>
    public void Clear()
    {
        Context.NativeHandle.MemoryClear();
        _position = 0;
    }

    /// <summary>Decode text tokens in one batch at the next positions (logits of the last one kept).</summary>
    public void DecodeText(ReadOnlySpan<long> tokens)
    {
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add((int)tokens[i], _position++, (LLamaSeqId)0, logits: i == tokens.Length - 1);
        var result = Context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {result}");
    }

    /// <summary>Encode one of mtmd's image chunks (vision tower + projector) and decode its embeddings at the next positions.</summary>
    public void DecodeImage(MtmdWeights mtmd, SafeMtmdInputChunk image)
    {
        int position = _position;
        int status = mtmd.NativeHandle.EvaluateChunk(image.NativePtr, Context.NativeHandle, ref position, 0, 512, true);
        if (status != 0) throw new InvalidOperationException($"mtmd could not evaluate an image chunk (status {status}): {LlamaCpp.LastProblem}");
        _position = position;
    }

    /// <summary>llama.cpp's greedy decoding of <paramref name="prompt"/> alone (the KV cache is cleared first).</summary>
    public (long[] Tokens, float[][] Logits) Greedy(long[] prompt, int count)
    {
        Clear();
        DecodeText(prompt);
        return Continue(count);
    }

    /// <summary>
    /// <paramref name="count"/> new tokens by argmax over llama.cpp's logits of the last decoded
    /// position, one token per step from the KV cache; the logits of every step are returned.
    /// </summary>
    public (long[] Tokens, float[][] Logits) Continue(int count)
    {
        var tokens = new long[count];
        var logits = new float[count][];
        for (int step = 0; step < count; step++)
        {
            logits[step] = Context.NativeHandle.GetLogitsIth(-1).ToArray();
            tokens[step] = ArgMax(logits[step]);
            if (step < count - 1) DecodeText([tokens[step]]);
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
