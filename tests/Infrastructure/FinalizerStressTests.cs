using SmVL.Pipelines;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using AdamW = SmVL.Training.AdamW;
using Parameter = TorchSharp.Modules.Parameter;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// The crash of issue #17 (`Scalar.h:140` in AdamW.step) is a Scalar freed by the finalizer while
/// native code reads it; it needs a garbage collection during the call, i.e. another thread that
/// allocates. TorchSharp's own AdamW with such a thread beside it dies within ~10,000 steps
/// (docs/torchsharp-scalars.md). Here the same loop runs SmVL's AdamW and owned scalars with a
/// thread collecting without pause, alone and as two loops side by side (as the tiny world's parents
/// train): each must finish bitwise equal to the same loop run calmly.
/// </summary>
public class FinalizerStressTests(ITestOutputHelper log)
{
    private const int Steps = 20_000;

    [Fact]
    public void ATrainingLoopSurvivesConstantGarbageCollectionOnAnotherThread()
    {
        var calm = OneThread(() => Train(Steps, seed: 11));
        var (stressed, collections) = WithCollector(() => OneThread(() => Train(Steps, seed: 11)));
        log.WriteLine($"{Steps} steps beside {collections} forced collections");
        // About 2,500 run here on a quiet machine and 1,600 on a loaded one; TorchSharp's own AdamW died within 10,000 steps.
        Assert.True(collections >= 200, $"only {collections} collections ran beside {Steps} steps: nothing was stressed");
        Assert.True(Fixtures.Same(calm, stressed), "the stressed run's weights differ from the calm run's");
    }

    [Fact]
    public void TwoTrainingLoopsSideBySideMatchTheirCalmRuns()
    {
        var calm = new[] { OneThread(() => Train(Steps, seed: 11)), OneThread(() => Train(Steps, seed: 12)) };
        var results = new Tensor?[2];
        var (_, collections) = WithCollector(() =>
        {
            CoreShare.Run(new CoreShare.Job[]
            {
                new("a", _ => results[0] = Train(Steps, seed: 11)),
                new("b", _ => results[1] = Train(Steps, seed: 12)),
            }, cores: 2, shares: 2);
            return 0;
        });
        log.WriteLine($"2 × {Steps} steps side by side beside {collections} forced collections");
        Assert.True(Fixtures.Same(calm[0], results[0]!) && Fixtures.Same(calm[1], results[1]!), "a loop run beside another differs from its calm run");
    }

    private static Tensor Train(int steps, long seed)
    {
        var gen = new Generator((ulong)seed, CPU);
        var w = new Parameter(randn(new long[] { 64, 64 }, generator: gen));
        using var x = randn(new long[] { 8, 64 }, generator: gen);
        using var opt = new AdamW(new[] { ("w", w) }, 1e-3);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var y = x.matmul(w).mul(Scalars.Of(0.5)).add(x, Scalars.Of(0.25));
            var loss = y.pow(Scalars.Two).mean();
            opt.ZeroGrad();
            loss.backward();
            opt.Step();
        }
        return w.detach().clone();
    }

    private static T OneThread<T>(Func<T> f)
    {
        int threads = get_num_threads();
        set_num_threads(1);
        try { return f(); }
        finally { set_num_threads(threads); }
    }

    private static (T result, int collections) WithCollector<T>(Func<T> f)
    {
        int count = 0;
        var stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop)) { _ = new byte[1024]; GC.Collect(); Interlocked.Increment(ref count); }
        }) { IsBackground = true };
        collector.Start();
        try { return (f(), count); }
        finally { Volatile.Write(ref stop, true); collector.Join(); }
    }
}
