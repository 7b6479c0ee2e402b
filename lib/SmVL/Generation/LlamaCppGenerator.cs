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
    /// chunks in order (tiles row by row, then the global crop), from <see cref="ImageProcessor.ForEngine"/>:
    /// mtmd cuts SmVL's tiles from the tiling input, and the global crop goes in as its own image, so
    /// every crop's pixels are SmVL's.
    /// <paramref name="onToken"/> is called as each token is chosen (timing: the first after the prompt's decode).
    /// </summary>
    public (long[] Tokens, float[][] Logits) Generate(long[] prompt, int maxNewTokens, IReadOnlyList<long>? stopIds = null,
                                                      IReadOnlyList<EngineImage>? images = null, long imageTokenId = -1,
                                                      Action<long>? onToken = null)
    {
        _context.NativeHandle.MemoryClear();
        _position = 0;
        var held = new List<SafeMtmdInputChunks>();
        try
        {
            var imageChunks = (images ?? []).SelectMany(image => Crops(image, held)).ToList();
            Prefill(prompt, imageChunks, imageTokenId);
        }
        finally
        {
            foreach (var chunks in held) chunks.Dispose();
        }

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

    /// <summary>The prompt into the KV cache: text runs as tokens, each image-token run as the next image chunk.</summary>
    private void Prefill(long[] prompt, IReadOnlyList<SafeMtmdInputChunk> imageChunks, long imageTokenId)
    {
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
    }

    /// <summary>
    /// One image's chunks: mtmd's tiles of the tiling input (its chunks but the last, its own
    /// thumbnail), then the global crop, given to mtmd as an image of one tile's size (its last chunk).
    /// The chunk lists are added to <paramref name="held"/>: they must live until decoded.
    /// </summary>
    private List<SafeMtmdInputChunk> Crops(EngineImage image, List<SafeMtmdInputChunks> held)
    {
        var crops = new List<SafeMtmdInputChunk>();
        if (image.Tiling is { } tiling) crops.AddRange(ImageChunks(tiling, held).SkipLast(1));
        crops.Add(ImageChunks(image.Global, held)[^1]);
        return crops;
    }

    /// <summary>mtmd's preprocessing of one image (its tiling, resizing and normalisation) into image chunks.</summary>
    private List<SafeMtmdInputChunk> ImageChunks(RgbImage image, List<SafeMtmdInputChunks> held)
    {
        if (_mtmd is null) throw new InvalidOperationException("images need the mmproj GGUF");
        using var bitmap = SafeMtmdEmbed.FromRgbBytes((uint)image.Width, (uint)image.Height, image.Pixels)
            ?? throw new InvalidOperationException($"mtmd could not take a {image.Width}×{image.Height} image: {LlamaCpp.LastProblem}");
        string marker = NativeApi.MtmdDefaultMarker() ?? throw new InvalidOperationException("mtmd gave no media marker");
        int status = _mtmd.Tokenize(marker, false, true, [bitmap], out var chunks);
        if (status != 0 || chunks is null) throw new InvalidOperationException($"mtmd could not preprocess the image (status {status}): {LlamaCpp.LastProblem}");
        held.Add(chunks);
        return chunks.Enumerate().Where(c => c.Type == SafeMtmdInputChunk.SafeMtmdInputChunkType.Image).ToList();
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
