using SmVL.Checkpoints;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// A decode step's whole decoder stack as one job (<see cref="DecodeStack"/>): after a prompt and
/// several decode steps (the cache growing past its first capacity) its hidden states are libtorch's
/// path within float32 rounding, for Qwen3 (q/k norms, two query heads per kv head), Llama (no norms,
/// biases on the attention projections and the MLP, three per kv head); what it writes into the cache is
/// what the per-layer path writes; its bits do not depend on the thread count, nor on which thread takes
/// which rows; a LoRA-wrapped layer
/// keeps the per-layer path.
/// </summary>
public class DecodeStackTests
{
    private static Qwen3Model Stack(string type, int heads, int kvHeads, int dim, bool bias)
    {
        var config = new TextConfig
        {
            ModelType = type, VocabSize = 64, HiddenSize = 96, IntermediateSize = 160, NumHiddenLayers = 3,
            NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDimOrNull = dim, RopeThetaOrNull = 10000, RmsNormEps = 1e-6,
            AttentionBias = bias, MlpBias = bias,
        };
        var model = new Qwen3Model(config);
        using var _ = no_grad();
        var gen = new Generator(5, CPU);
        foreach (var p in model.parameters())
            p.copy_(randn(p.shape, generator: gen).mul(Scalars.Of(p.shape.Length == 1 ? 0.3 : 0.15)).add_(Scalars.Of(p.shape.Length == 1 ? 1.0 : 0.0)));
        return model;
    }

    private enum Path { Libtorch, PerLayer, Stack }

    /// <summary>A prompt of <paramref name="prompt"/> tokens, then <paramref name="steps"/> decode steps: each step's final hidden state, and the cached keys of every layer.</summary>
    private static (float[] Hidden, float[] Keys) Decode(Qwen3Model model, Path path, int prompt, int steps, int threads)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        RowParallelLinear.Enabled = path != Path.Libtorch;
        DecodeStack.Enabled = path == Path.Stack;
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            using var cache = new KvCache(model.layers.Count);
            var x = randn(new long[] { 1, prompt + steps, model.Config.HiddenSize }, generator: new Generator(11, CPU));
            model.forward(x.narrow(1, 0, prompt), cache: cache);
            var hidden = new List<float>();
            for (int t = prompt; t < prompt + steps; t++)
                using (RowParallelLinear.TeamOnly())
                    hidden.AddRange(model.forward(x.narrow(1, t, 1), cache: cache).data<float>().ToArray());
            var keys = new List<float>();
            for (int i = 0; i < model.layers.Count; i++)
            {
                var (k, _) = cache.Append(i, zeros(1, model.Config.KeyValueHeads, 0, model.Config.HeadDim), zeros(1, model.Config.KeyValueHeads, 0, model.Config.HeadDim));
                keys.AddRange(k.contiguous().data<float>().ToArray());
            }
            return (hidden.ToArray(), keys.ToArray());
        }
        finally { RowParallelLinear.Enabled = true; DecodeStack.Enabled = true; set_num_threads(before); }
    }

    private static void Close(float[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale, $"{what}[{i}]: {expected[i]} vs {actual[i]} (scale {scale})");
    }

    [Theory]
    [InlineData("qwen3", 4, 2, 32, false, 20)]
    [InlineData("llama", 6, 2, 16, true, 7)]
    public void DecodeStepsAreLibtorchsPathToFloat32Rounding(string type, int heads, int kvHeads, int dim, bool bias, int prompt)
    {
        var model = Stack(type, heads, kvHeads, dim, bias);
        var (plain, plainKeys) = Decode(model, Path.Libtorch, prompt, steps: 12, threads: 2);
        var (stack, stackKeys) = Decode(model, Path.Stack, prompt, steps: 12, threads: 2);
        Close(plain, stack, 1e-5, "hidden");
        Close(plainKeys, stackKeys, 1e-5, "cached keys");
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            var (perLayer, _) = Decode(model, Path.PerLayer, prompt, steps: 12, threads: 2);
            Assert.NotEqual(perLayer, stack);      // the stack ran (the per-layer path rounds its norms and SiLU in libtorch)
        }
    }

    [Fact]
    public void TheBitsDoNotDependOnTheThreadCount()
    {
        var model = Stack("qwen3", 4, 2, 32, bias: false);
        var (one, oneKeys) = Decode(model, Path.Stack, 30, steps: 5, threads: 1);
        var (two, twoKeys) = Decode(model, Path.Stack, 30, steps: 5, threads: 2);
        var (three, threeKeys) = Decode(model, Path.Stack, 30, steps: 5, threads: 3);
        Assert.Equal(one, two);
        Assert.Equal(one, three);
        Assert.Equal(oneKeys, twoKeys);
        Assert.Equal(oneKeys, threeKeys);
    }

    [Fact]
    public void ThreadsTakingOneRowAtATimeFromEachOtherGiveTheSameBits()
    {
        var model = Stack("llama", 6, 2, 16, bias: true);
        var (one, oneKeys) = Decode(model, Path.Stack, 30, steps: 5, threads: 1);
        int chunk = RowShares.ChunkBytes;
        RowShares.ChunkBytes = 1;     // one row per take: the threads (more than this machine's cores) steal rows all the time
        try
        {
            for (int threads = 2; threads <= 4; threads++)
            {
                var (many, manyKeys) = Decode(model, Path.Stack, 30, steps: 5, threads);
                Assert.Equal(one, many);
                Assert.Equal(oneKeys, manyKeys);
            }
        }
        finally { RowShares.ChunkBytes = chunk; }
    }

    [Fact]
    public void ALoraWrappedLayerKeepsThePerLayerPath()
    {
        var model = Stack("qwen3", 4, 2, 32, bias: false);
        using var _ = no_grad();
        var x = zeros(1, 1, 96);
        using var cache = new KvCache(model.layers.Count);
        using var team = RowParallelLinear.TeamOnly();
        Assert.Equal(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated, DecodeStack.Applies(model, x, null, cache));
        model.layers[1].self_attn.v_proj = new SmVL.Stitching.LoraLinear((TorchSharp.Modules.Linear)model.layers[1].self_attn.v_proj, new SmVL.Stitching.LoraOptions());
        Assert.False(DecodeStack.Applies(model, x, null, cache));
        Assert.False(DecodeStack.Applies(model, x, null, null));
    }
}
