using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;
using SmVL.Export;
using SmVL.Processing;

namespace SmVL.Generation;

/// <summary>
/// Greedy decoding of an exported model by llama.cpp (LLamaSharp, CPU): the text GGUF, and for
/// images the mmproj through mtmd. The prompt is SmVL's own (the processor's ids, Qwen3-SmVL image
/// framing); each run of image tokens is replaced by mtmd's embeddings of the matching image chunk
/// (tiles row by row, then the global image, as SmVL lays them out). mtmd's own idefics3 framing is
/// not used: it asks for SmolVLM's &lt;fake_token_around_image&gt; and &lt;global-img&gt; as single
/// tokens, which the Qwen3 vocabulary lacks (it would decode token -1).
/// </summary>
public sealed class LlamaCppGenerator : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly MtmdWeights? _mtmd;
    private int _position;

    private LlamaCppGenerator(LLamaWeights weights, LLamaContext context, MtmdWeights? mtmd) => (_weights, _context, _mtmd) = (weights, context, mtmd);

    /// <param name="float32Attention">
    /// a float32 KV cache without flash attention: llama.cpp's defaults (f16 cache, CPU flash
    /// attention) round an f32 model's attention (docs/gguf-export-research.md has the measured difference)
    /// </param>
    public static LlamaCppGenerator Load(string textGguf, string? projectorGguf = null, int threads = 2, uint contextSize = 2048, bool float32Attention = true)
    {
        foreach (var path in new[] { textGguf, projectorGguf }.OfType<string>())
            if (!File.Exists(path)) throw new FileNotFoundException($"GGUF file not found: {path}", path);
        LlamaCpp.Start();
        var p = new ModelParams(textGguf) { ContextSize = contextSize, BatchSize = contextSize, GpuLayerCount = 0, Threads = threads };
        if (float32Attention) (p.TypeK, p.TypeV, p.FlashAttention) = (GGMLType.GGML_TYPE_F32, GGMLType.GGML_TYPE_F32, false);
        var weights = LLamaWeights.LoadFromFile(p);
        LLamaContext? context = null;
        try
        {
            context = weights.CreateContext(p);
            MtmdWeights? mtmd = null;
            if (projectorGguf is not null)
            {
                var mp = MtmdContextParams.Default();
                mp.NThreads = threads;
                if (float32Attention) mp.FlashAttentionType = LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_DISABLED;
                mtmd = MtmdWeights.LoadFromFile(projectorGguf, weights, mp);
            }
            return new LlamaCppGenerator(weights, context, mtmd);
        }
        catch
        {
            context?.Dispose();
            weights.Dispose();
            throw;
        }
    }

    /// <summary>The GGUF's metadata (general.file_type, tokenizer.ggml.*, ...), as llama.cpp read it.</summary>
    public IReadOnlyDictionary<string, string> Metadata => _weights.Metadata;

    /// <summary>llama.cpp's tokenization with special tokens parsed (BOS only if the GGUF asks for it).</summary>
    public long[] Tokenize(string text) =>
        _weights.Tokenize(text, add_bos: _weights.Vocab.ShouldAddBOS, special: true, Encoding.UTF8).Select(t => (long)(int)t).ToArray();

    /// <summary>
    /// <paramref name="maxNewTokens"/> greedy tokens after <paramref name="prompt"/> (stopping after a
    /// stop id), with each step's logits. Runs of <paramref name="imageTokenId"/> take the images'
    /// chunks in order; their lengths must match mtmd's chunks (the same tiling as SmVL's processor).
    /// Pass <paramref name="images"/> as SmVL's processor resized them (<see cref="ImageProcessor.TilingInput"/>):
    /// mtmd then cuts the same tiles, and only its global thumbnail is its own resample (not PIL's Lanczos).
    /// <paramref name="onToken"/> is called as each token is chosen (timing: the first after the prompt's decode).
    /// </summary>
    public (long[] Tokens, float[][] Logits) Generate(long[] prompt, int maxNewTokens, IReadOnlyList<long>? stopIds = null,
                                                      IReadOnlyList<RgbImage>? images = null, long imageTokenId = -1,
                                                      Action<long>? onToken = null)
    {
        _context.NativeHandle.MemoryClear();
        _position = 0;
        using var chunks = images is { Count: > 0 } ? Chunks(images) : null;
        var imageChunks = chunks?.Enumerate().Where(c => c.Type == SafeMtmdInputChunk.SafeMtmdInputChunkType.Image).ToList() ?? [];
        int used = 0;
        for (int i = 0, j; i < prompt.Length; i = j)
        {
            bool isImage = prompt[i] == imageTokenId;
            for (j = i; j < prompt.Length && (prompt[j] == imageTokenId) == isImage; j++) { }
            if (!isImage) { DecodeText(prompt.AsSpan(i, j - i)); continue; }
            if (used == imageChunks.Count)
                throw new InvalidDataException($"the prompt has more image-token runs than mtmd made image chunks ({imageChunks.Count})");
            if ((ulong)(j - i) != (ulong)imageChunks[used].NTokens)
                throw new InvalidDataException($"image run {used}: {j - i} image tokens in the prompt, {imageChunks[used].NTokens} embeddings from mtmd (different tiling?)");
            DecodeImage(imageChunks[used++]);
        }
        if (used != imageChunks.Count) throw new InvalidDataException($"mtmd made {imageChunks.Count} image chunks, the prompt has {used} image-token runs");

        var tokens = new List<long>();
        var logits = new List<float[]>();
        while (tokens.Count < maxNewTokens)
        {
            var step = _context.NativeHandle.GetLogitsIth(-1).ToArray();
            long next = ArgMax(step);
            tokens.Add(next);
            logits.Add(step);
            onToken?.Invoke(next);
            if (stopIds?.Contains(next) == true || tokens.Count == maxNewTokens) break;
            DecodeText([next]);
        }
        return (tokens.ToArray(), logits.ToArray());
    }

    /// <summary>mtmd's preprocessing of the images (its tiling, resizing and normalisation) into chunks.</summary>
    private SafeMtmdInputChunks Chunks(IReadOnlyList<RgbImage> images)
    {
        if (_mtmd is null) throw new InvalidOperationException("images need the mmproj GGUF");
        var bitmaps = images.Select(im => SafeMtmdEmbed.FromRgbBytes((uint)im.Width, (uint)im.Height, im.Pixels)).ToArray();
        try
        {
            string markers = string.Concat(Enumerable.Repeat(NativeApi.MtmdDefaultMarker(), images.Count));
            int status = _mtmd.Tokenize(markers, false, true, bitmaps, out var chunks);
            if (status != 0) throw new InvalidOperationException($"mtmd could not preprocess the images (status {status}): {LlamaCpp.LastProblem}");
            return chunks;
        }
        finally
        {
            foreach (var b in bitmaps) b.Dispose();
        }
    }

    private void DecodeText(ReadOnlySpan<long> tokens)
    {
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add((int)tokens[i], _position++, (LLamaSeqId)0, logits: i == tokens.Length - 1);
        var result = _context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed ({result}): {LlamaCpp.LastProblem}");
    }

    private void DecodeImage(SafeMtmdInputChunk image)
    {
        int status = _mtmd!.NativeHandle.EvaluateChunk(image.NativePtr, _context.NativeHandle, ref _position, 0, (int)_context.BatchSize, true);
        if (status != 0) throw new InvalidOperationException($"mtmd could not evaluate an image chunk (status {status}): {LlamaCpp.LastProblem}");
    }

    private static long ArgMax(float[] v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        _mtmd?.Dispose();
        _context.Dispose();
        _weights.Dispose();
    }
}
