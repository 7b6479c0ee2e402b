using SmVL.Checkpoints;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// One token's attention fused on the worker team (q/k norms, RoPE, the cache write, attention over
/// the cache): libtorch's path within float32 rounding, for Qwen3 (q/k norms, two query heads per kv
/// head), Llama (no norms, one per kv head) and three per kv head, with the cache grown past its first
/// capacity; the key it writes into the cache is libtorch's rotated key; the same bits on one thread
/// and on two.
/// </summary>
public class DecodeAttentionTests
{
    private static Qwen3Attention Attention(string type, int heads, int kvHeads, int dim)
    {
        var config = new TextConfig
        {
            ModelType = type, HiddenSize = 96, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDimOrNull = dim,
            RopeThetaOrNull = 10000, RmsNormEps = 1e-6,
        };
        var attention = new Qwen3Attention(config);
        using var _ = no_grad();
        var gen = new Generator(3, CPU);
        foreach (var p in attention.parameters()) p.copy_(randn(p.shape, generator: gen).mul(Scalars.Of(p.shape.Length == 1 ? 0.5 : 0.3)).add_(Scalars.Of(p.shape.Length == 1 ? 1.0 : 0.0)));
        return attention;
    }

    /// <summary>A prompt of <paramref name="prompt"/> tokens through libtorch's path, then one decode step, with the kernel or without.</summary>
    private static (float[] Output, float[] CachedKey) Decode(Qwen3Attention attention, int kvHeads, int dim, int prompt, int threads, bool kernel)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        RowParallelLinear.Enabled = kernel;
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            using var cache = new KvCache(1);
            var rope = new RotaryEmbedding(dim, 10000);
            var gen = new Generator(9, CPU);
            var x = randn(new long[] { 1, prompt + 1, 96 }, generator: gen);
            var (cos, sin) = rope.Compute(Scalars.Arange(0, prompt + 1).unsqueeze(0));
            attention.forward(x.narrow(1, 0, prompt), cos.narrow(1, 0, prompt), sin.narrow(1, 0, prompt), null, cache, 0);
            Tensor output;
            using (RowParallelLinear.TeamOnly())
                output = attention.forward(x.narrow(1, prompt, 1), cos.narrow(1, prompt, 1), sin.narrow(1, prompt, 1), null, cache, 0);
            var (keys, _) = cache.Append(0, zeros(1, kvHeads, 0, dim), zeros(1, kvHeads, 0, dim));      // nothing appended: the cached keys
            return (output.data<float>().ToArray(), keys.select(2, prompt).contiguous().data<float>().ToArray());
        }
        finally { RowParallelLinear.Enabled = true; set_num_threads(before); }
    }

    [Theory]
    [InlineData("qwen3", 4, 2, 32, 40)]
    [InlineData("llama", 3, 3, 16, 7)]
    [InlineData("qwen3", 6, 2, 64, 100)]
    public void OneTokenIsLibtorchsPathToFloat32Rounding(string type, int heads, int kvHeads, int dim, int prompt)
    {
        var attention = Attention(type, heads, kvHeads, dim);
        var (plain, plainKey) = Decode(attention, kvHeads, dim, prompt, threads: 2, kernel: false);
        var (fused, fusedKey) = Decode(attention, kvHeads, dim, prompt, threads: 2, kernel: true);
        Assert.Equal(plain.Length, fused.Length);
        double scale = plain.Max(Math.Abs);
        Assert.All(plain.Zip(fused), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5 * scale, $"{p.First} vs {p.Second} (scale {scale})"));
        Assert.All(plainKey.Zip(fusedKey), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-5 * Math.Max(1, Math.Abs(p.First)), $"cached key {p.First} vs {p.Second}"));
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.NotEqual(plain, fused);      // the fused path ran (libtorch's would give its own bits)
    }

    [Fact]
    public void TheBitsDoNotDependOnTheThreadCount()
    {
        var attention = Attention("qwen3", 16, 8, 128);
        var (one, oneKey) = Decode(attention, 8, 128, 300, threads: 1, kernel: true);
        var (two, twoKey) = Decode(attention, 8, 128, 300, threads: 2, kernel: true);
        Assert.Equal(one, two);
        Assert.Equal(oneKey, twoKey);
    }
}
