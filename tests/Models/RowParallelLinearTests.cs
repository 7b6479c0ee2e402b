using SmVL.Models;
using SmVL.Tests.Stitching;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// The decode-step linear split across threads: bitwise the one-thread product, with or without
/// bias; under concurrent garbage collection; and a greedy decode through it gives the plain
/// path's logits bit for bit.
/// </summary>
public class RowParallelLinearTests
{
    private static T WithThreads<T>(int threads, Func<T> f)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        try { return f(); } finally { set_num_threads(before); }
    }

    [Theory]
    [InlineData(3072, 1024, false, false)]
    [InlineData(1024, 64, true, false)]
    [InlineData(768, 33, false, true)]      // a parameter that trains elsewhere, used under no_grad (decoding a model in training)
    public void OneRowIsBitwiseThePlainLinear(int rows, int cols, bool withBias, bool weightRequiresGrad)
    {
        using var _ = no_grad();
        var gen = new Generator(1, CPU);
        var w = randn(new long[] { rows, cols }, generator: gen).requires_grad_(weightRequiresGrad);
        var b = withBias ? randn(new long[] { rows }, generator: gen) : null;
        var x = randn(new long[] { 1, 1, cols }, generator: gen);
        var plain = nn.functional.linear(x, w, b);
        var split = WithThreads(2, () => RowParallelLinear.Linear(x, w, b));
        Assert.False(split.requires_grad);
        Assert.Equal(plain.shape, split.shape);
        Assert.Equal(plain.data<float>().ToArray(), split.data<float>().ToArray());
    }

    [Fact]
    public void ManyCallsUnderConcurrentCollectionsStayExact()
    {
        using var _ = no_grad();
        var w = randn(4096, 256);
        var x = randn(1, 256);
        var expected = nn.functional.linear(x, w).data<float>().ToArray();
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
    public void GreedyDecodeLogitsAreThoseOfOneThread()
    {
        var model = StitchKit.Stitched();
        model.eval();
        using var _ = no_grad();
        using var batch = StitchKit.MakeBatch(8, batch: 1, t: 12);
        float[] Decode(bool split) => WithThreads(2, () =>
        {
            RowParallelLinear.Enabled = split;
            try
            {
                using var result = SmVL.Generation.Generator.Generate(model, [batch.InputIds[0].data<long>().ToArray()], batch.PixelValues,
                    new SmVL.Generation.GenerationOptions { MaxNewTokens = 5, EosTokenIds = [], ReturnLogits = true });
                return result.StepLogits![0].data<float>().ToArray();
            }
            finally { RowParallelLinear.Enabled = true; }
        });
        Assert.Equal(Decode(false), Decode(true));
    }
}
