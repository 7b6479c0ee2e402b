using SmVL.Models;
using SmVL.Tests.Stitching;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// The decode-step linear: the AVX-512 row kernel agrees with a float64 product to float32
/// rounding, gives the same bits on any number of threads (with or without bias, rows not a
/// multiple of four, whichever thread takes which rows), stays exact under concurrent garbage collection; shapes the kernel does not
/// take keep libtorch's bits; autograd keeps the plain path; and a greedy decode through it
/// chooses the plain path's tokens with logits within float32 rounding.
/// </summary>
public class RowParallelLinearTests
{
    private static T WithThreads<T>(int threads, Func<T> f)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        try { return f(); } finally { set_num_threads(before); }
    }

    private static (Tensor w, Tensor? b, Tensor x) Inputs(int rows, int cols, bool withBias, ulong seed = 1)
    {
        var gen = new Generator(seed, CPU);
        return (randn(new long[] { rows, cols }, generator: gen), withBias ? randn(new long[] { rows }, generator: gen) : null,
                randn(new long[] { 1, 1, cols }, generator: gen));
    }

    [Theory]
    [InlineData(3072, 1024, false, false)]
    [InlineData(1027, 64, true, false)]      // rows not a multiple of four: the one-row tail
    [InlineData(2048, 3072, false, true)]    // a weight that trains, used under no_grad (decoding a model in training)
    public void OneRowIsTheProductToFloat32Rounding(int rows, int cols, bool withBias, bool weightRequiresGrad)
    {
        using var _ = no_grad();
        var (w, b, x) = Inputs(rows, cols, withBias);
        w.requires_grad_(weightRequiresGrad);
        var exact = nn.functional.linear(x.to(float64), w.to(float64), b?.to(float64));
        var y = WithThreads(2, () => RowParallelLinear.Linear(x, w, b));
        Assert.Equal(ScalarType.Float32, y.dtype);
        Assert.Equal(exact.shape, y.shape);
        // float32 dot products of `cols` terms of size ~1: error ~ sqrt(cols) * 2^-24 * |terms|
        double bound = 4 * Math.Sqrt(cols) * Math.Pow(2, -24) * (w.abs().to(float64).matmul(x.abs().to(float64).reshape(cols))).max().item<double>();
        Assert.True(Fixtures.MaxAbsDiff(y.to(float64), exact) <= bound, $"max error {Fixtures.MaxAbsDiff(y.to(float64), exact):E2} > {bound:E2}");
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.True(Fixtures.MaxAbsDiff(y, nn.functional.linear(x, w, b)) > 0, "the kernel ran (libtorch's bits would be identical)");
    }

    [Theory]
    [InlineData(1027, 64, true)]
    [InlineData(4096, 1024, false)]
    public void TheBitsDoNotDependOnTheThreadCount(int rows, int cols, bool withBias)
    {
        using var _ = no_grad();
        var (w, b, x) = Inputs(rows, cols, withBias);
        float[] On(int threads) => WithThreads(threads, () => RowParallelLinear.Linear(x, w, b).data<float>().ToArray());
        var one = On(1);
        Assert.Equal(one, On(2));
        Assert.Equal(one, On(3));
        using (var team = RowParallelLinear.TeamOnly())
            Assert.Equal(one, RowParallelLinear.Linear(x, w, b).data<float>().ToArray());
    }

    [Fact]
    public void SeveralProductsInOneJobGiveEachProductsBits()
    {
        using var _ = no_grad();
        var x = randn(1, 1, 64);
        nn.Module<Tensor, Tensor>[] layers = [nn.Linear(64, 1027), nn.Linear(64, 48, hasBias: false), nn.Linear(64, 500)];
        var together = WithThreads(2, () => RowParallelLinear.Forward(x, layers));
        Assert.Equal(layers.Length, together.Length);
        for (int i = 0; i < layers.Length; i++)
        {
            var alone = WithThreads(1, () => RowParallelLinear.Forward(layers[i], x));
            Assert.Equal(alone.shape, together[i].shape);
            Assert.Equal(alone.data<float>().ToArray(), together[i].data<float>().ToArray());
            Assert.True(Fixtures.MaxAbsDiff(alone, layers[i].forward(x)) < 1e-5);
        }
    }

    [Fact]
    public void ThreadsTakingOneRowAtATimeFromEachOtherGiveTheSameBits()
    {
        using var _ = no_grad();
        var x = randn(1, 1, 64);
        nn.Module<Tensor, Tensor>[] layers = [nn.Linear(64, 1027), nn.Linear(64, 48, hasBias: false), nn.Linear(64, 500)];
        var alone = WithThreads(1, () => RowParallelLinear.Forward(x, layers)).Select(t => t.data<float>().ToArray()).ToArray();
        int chunk = RowShares.ChunkBytes;
        RowShares.ChunkBytes = 1;     // one row per take: the threads (more than this machine's cores) steal rows all the time
        try
        {
            for (int threads = 2; threads <= 4; threads++)
                for (int repeat = 0; repeat < 20; repeat++)
                {
                    var shared = WithThreads(threads, () => RowParallelLinear.Forward(x, layers));
                    for (int i = 0; i < layers.Length; i++) Assert.Equal(alone[i], shared[i].data<float>().ToArray());
                }
        }
        finally { RowShares.ChunkBytes = chunk; }
    }

    [Fact]
    public void TeamOnlyRunsLibtorchOnOneThreadAndRestoresTheCount()
    {
        WithThreads(2, () =>
        {
            using (RowParallelLinear.TeamOnly())
            {
                Assert.Equal(1, get_num_threads());
                using (RowParallelLinear.TeamOnly()) Assert.Equal(1, get_num_threads());   // nested: no change
                Assert.Equal(1, get_num_threads());
            }
            Assert.Equal(2, get_num_threads());
            return 0;
        });
    }

    [Theory]
    [InlineData(768, 33, false)]       // a width the kernel does not take: libtorch's product, split by bmm
    [InlineData(768, 33, true)]        // the same for a weight that trains, under no_grad
    public void OtherShapesKeepLibtorchBits(int rows, int cols, bool weightRequiresGrad)
    {
        using var _ = no_grad();
        var (w, b, x) = Inputs(rows, cols, withBias: true);
        w.requires_grad_(weightRequiresGrad);
        var plain = nn.functional.linear(x, w, b);
        var split = WithThreads(2, () => RowParallelLinear.Linear(x, w, b));
        Assert.False(split.requires_grad);
        Assert.Equal(plain.data<float>().ToArray(), split.data<float>().ToArray());
    }

    [Fact]
    public void ManyCallsUnderConcurrentCollectionsStayExact()
    {
        using var _ = no_grad();
        var (w, _, x) = Inputs(4096, 256, withBias: false);
        var expected = WithThreads(2, () => RowParallelLinear.Linear(x, w).data<float>().ToArray());
        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } });
        try
        {
            WithThreads(2, () =>
            {
                for (int i = 0; i < 3000; i++)
                {
                    using var scope = NewDisposeScope();
                    Assert.Equal(expected, RowParallelLinear.Linear(x, w).data<float>().ToArray());
                }
                return 0;
            });
        }
        finally { stop.Cancel(); collector.Wait(); }
    }

    [Fact]
    public void AutogradTakesThePlainPath()
    {
        var w = randn(64, 16, requires_grad: true);
        var x = randn(1, 16);
        var y = WithThreads(2, () => RowParallelLinear.Linear(x, w));
        Assert.True(y.requires_grad);                    // differentiable: the plain linear
        y.sum().backward();
        Assert.NotNull(w.grad);
    }

    [Fact]
    public void GreedyDecodeMatchesThePlainPath()
    {
        var model = StitchKit.Stitched();
        model.eval();
        using var _ = no_grad();
        using var batch = StitchKit.MakeBatch(8, batch: 1, t: 12);
        (long[] Tokens, Tensor Logits) Decode(bool kernel) => WithThreads(2, () =>
        {
            RowParallelLinear.Enabled = kernel;
            try
            {
                using var result = SmVL.Generation.Generator.Generate(model, [batch.InputIds[0].data<long>().ToArray()], batch.PixelValues,
                    new SmVL.Generation.GenerationOptions { MaxNewTokens = 8, EosTokenIds = [], ReturnLogits = true });
                return (result.Tokens[0], result.StepLogits![0].clone());
            }
            finally { RowParallelLinear.Enabled = true; }
        });
        var (plainTokens, plainLogits) = Decode(false);
        var (tokens, logits) = Decode(true);
        Assert.Equal(plainTokens, tokens);
        Assert.True(Fixtures.MaxAbsDiff(plainLogits, logits) < 1e-4, $"logits differ by {Fixtures.MaxAbsDiff(plainLogits, logits):E2}");
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.True(Fixtures.MaxAbsDiff(plainLogits, logits) > 0, "the decode went through the kernel");
    }
}
