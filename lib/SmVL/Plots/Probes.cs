using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Plots;

/// <summary>
/// Small measurements and index maps the notebooks chart: a matmul speed probe, full-size models
/// built on the meta device (shapes and counts, no memory), and pixel-shuffle / tile-grid layouts.
/// </summary>
public static class Probes
{
    /// <summary>GFLOP/s of an n×n float32 matmul on <paramref name="device"/> (best of <paramref name="reps"/>, after a warm-up).</summary>
    public static double MatMulGflops(int n = 512, int reps = 5, Device? device = null)
    {
        using var scope = NewDisposeScope();
        device ??= CPU;
        var a = randn(n, n, device: device);
        var b = randn(n, n, device: device);
        matmul(a, b);
        double best = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            var c = matmul(a, b);
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            else c.sum().item<float>();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return 2.0 * n * n * n / best / 1e9;
    }

    /// <summary>Build a module on the meta device: every tensor has a shape and no storage.</summary>
    public static T OnMeta<T>(Func<T> build)
    {
        set_default_device(META);
        try { return build(); }
        finally { set_default_device(CPU); }
    }

    /// <summary>The full-size Qwen3-SmVL config: SmolVLM2-256M's vision tower and scale 4, Qwen3-0.6B as the LM, image token 151655.</summary>
    public static SmolVLMConfig Qwen3SmVLConfig => new()
    {
        ImageTokenId = 151655, ScaleFactor = 4, TieWordEmbeddings = true, VocabSize = TextConfig.Qwen3_0_6B.VocabSize,
        VisionConfig = VisionConfig.SmolVLM2_256M, TextConfig = TextConfig.Qwen3_0_6B,
    };

    /// <summary>The full-size stitched model on the meta device (695,065,856 parameters, 0 bytes).</summary>
    public static SmolVLMForConditionalGeneration Qwen3SmVLOnMeta() => OnMeta(() => new SmolVLMForConditionalGeneration(Qwen3SmVLConfig));

    /// <summary>
    /// For a side×side patch grid, which output token each patch lands in after pixel shuffle with
    /// <paramref name="scale"/> — computed by running <see cref="PixelShuffleConnector.PixelShuffle"/>
    /// on the patch indices themselves, so the map is the library's real order, not a re-derivation.
    /// </summary>
    public static int[][] PixelShuffleTokenOf(int side, int scale)
    {
        using var scope = NewDisposeScope();
        int n = side * side;
        var ids = Scalars.Arange(0, n, dtype: float32).reshape(1, n, 1);
        var shuffled = PixelShuffleConnector.PixelShuffle(ids, scale);   // (1, n/s², s²): patch ids per output token
        var data = shuffled.squeeze(0).to(int32).data<int>().ToArray();
        int perToken = scale * scale;
        var map = new int[n];
        for (int i = 0; i < data.Length; i++) map[data[i]] = i / perToken;
        return Enumerable.Range(0, side).Select(r => map.Skip(r * side).Take(side).ToArray()).ToArray();
    }

    /// <summary>Same as <see cref="PixelShuffleTokenOf"/> but the position of the patch inside its token's channel blocks (0..s²−1).</summary>
    public static int[][] PixelShuffleSlotOf(int side, int scale)
    {
        using var scope = NewDisposeScope();
        int n = side * side;
        var ids = Scalars.Arange(0, n, dtype: float32).reshape(1, n, 1);
        var data = PixelShuffleConnector.PixelShuffle(ids, scale).squeeze(0).to(int32).data<int>().ToArray();
        int perToken = scale * scale;
        var slot = new int[n];
        for (int i = 0; i < data.Length; i++) slot[data[i]] = i % perToken;
        return Enumerable.Range(0, side).Select(r => slot.Skip(r * side).Take(side).ToArray()).ToArray();
    }

    /// <summary>Token counts of one SmolVLM image prompt per part: image tokens, and everything else (markers, newlines).</summary>
    public static (int ImageTokens, int Markup) ImagePromptParts(Processing.Tokenizer tokenizer, Processing.ImageTokens tokens, int rows, int cols, int imageSeqLen)
    {
        var ids = tokenizer.Encode(tokens.ImagePrompt(rows, cols, imageSeqLen));
        int image = ids.Count(i => i == tokens.ImageTokenId);
        return (image, ids.Count - image);
    }
}
