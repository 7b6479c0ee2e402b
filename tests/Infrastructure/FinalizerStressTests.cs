using SmVL.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = SmVL.Training.AdamW;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// The crash of issue #17 (`Scalar.h:140` in AdamW.step) is a Scalar freed by the finalizer while
/// native code reads it; it needs a garbage collection during the call, i.e. another thread that
/// allocates. TorchSharp's own AdamW with such a thread beside it dies within ~10,000 steps
/// (docs/torchsharp-scalars.md). Here the same loop runs SmVL's AdamW and owned scalars with a
/// thread collecting without pause: it must finish, and bitwise equal to the same loop run calmly.
/// </summary>
public class FinalizerStressTests(ITestOutputHelper log)
{
    [Fact]
    public void TrainingStepsSurviveConstantGarbageCollectionOnAnotherThread()
    {
        const int steps = 20_000;
        var calm = Train(steps, collectBeside: false);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stressed = Train(steps, collectBeside: true, out int collections);
        log.WriteLine($"{steps} steps under {collections} forced collections in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(collections > steps / 10, $"only {collections} collections ran beside {steps} steps: the test did not stress anything");
        Assert.True(Fixtures.Same(calm, stressed), "the stressed run's weights differ from the calm run's");
    }

    private static Tensor Train(int steps, bool collectBeside) => Train(steps, collectBeside, out _);

    private static Tensor Train(int steps, bool collectBeside, out int collections)
    {
        int threads = get_num_threads();
        set_num_threads(1);
        int count = 0;
        var stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop)) { _ = new byte[1024]; GC.Collect(); Interlocked.Increment(ref count); }
        }) { IsBackground = true };
        try
        {
            var gen = new Generator(11, CPU);
            var w = new Parameter(randn(new long[] { 64, 64 }, generator: gen));
            using var x = randn(new long[] { 8, 64 }, generator: gen);
            using var opt = new AdamW(new[] { ("w", w) }, 1e-3);
            if (collectBeside) collector.Start();
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
        finally
        {
            Volatile.Write(ref stop, true);
            if (collectBeside) collector.Join();
            collections = count;
            set_num_threads(threads);
        }
    }
}
