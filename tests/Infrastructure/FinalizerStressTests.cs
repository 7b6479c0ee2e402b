using System.Diagnostics;
using SmVL.TinyWorld;
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
/// thread forcing collections half of the time (each collection is followed by a pause as long as it
/// took, so collections land anywhere in the loop without starving it), alone and as two loops side by
/// side (as the tiny world's parents train): each must finish bitwise equal to the same number of
/// steps run calmly. The stressed runs stop at <see cref="MaxSteps"/> or after <see cref="Budget"/>,
/// whichever comes first, so a crowded machine makes the test shorter, not endless.
/// </summary>
public class FinalizerStressTests(ITestOutputHelper log)
{
    private const int MaxSteps = 100_000;
    private const int MinSteps = 1_000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    [Fact]
    public void ATrainingLoopSurvivesConstantGarbageCollectionOnAnotherThread()
    {
        var deadline = DateTime.UtcNow + Budget;
        var ((stressed, steps), stress) = WithCollector(() => OneThread(() => Train(MaxSteps, seed: 11, deadline)));
        var (calm, _) = OneThread(() => Train(steps, seed: 11, DateTime.MaxValue));
        log.WriteLine($"{steps} steps beside {stress}");
        AssertStressed(steps, stress);
        Assert.True(Fixtures.Same(calm, stressed), "the stressed run's weights differ from the calm run's");
    }

    [Fact]
    public void TwoTrainingLoopsSideBySideMatchTheirCalmRuns()
    {
        var deadline = DateTime.UtcNow + Budget;
        var results = new (Tensor w, int steps)[2];
        var (_, stress) = WithCollector(() =>
        {
            CoreShare.Run(new CoreShare.Job[]
            {
                new("a", _ => results[0] = Train(MaxSteps, seed: 11, deadline)),
                new("b", _ => results[1] = Train(MaxSteps, seed: 12, deadline)),
            }, cores: 2, shares: 2);
            return 0;
        });
        log.WriteLine($"{results[0].steps} and {results[1].steps} steps side by side beside {stress}");
        AssertStressed(Math.Min(results[0].steps, results[1].steps), stress);
        var calm = new[] { OneThread(() => Train(results[0].steps, seed: 11, DateTime.MaxValue)), OneThread(() => Train(results[1].steps, seed: 12, DateTime.MaxValue)) };
        Assert.True(Fixtures.Same(calm[0].w, results[0].w) && Fixtures.Same(calm[1].w, results[1].w), "a loop run beside another differs from its calm run");
    }

    /// <summary>Runs up to <paramref name="steps"/> AdamW steps, stopping early at the deadline; returns the weights and the steps run.</summary>
    private static (Tensor w, int steps) Train(int steps, long seed, DateTime deadline)
    {
        var gen = new Generator((ulong)seed, CPU);
        var w = new Parameter(randn(new long[] { 64, 64 }, generator: gen));
        using var x = randn(new long[] { 8, 64 }, generator: gen);
        using var opt = new AdamW(new[] { ("w", w) }, 1e-3);
        int i = 0;
        for (; i < steps && DateTime.UtcNow < deadline; i++)
        {
            using var scope = NewDisposeScope();
            var y = x.matmul(w).mul(Scalars.Of(0.5)).add(x, Scalars.Of(0.25));
            var loss = y.pow(Scalars.Two).mean();
            opt.ZeroGrad();
            loss.backward();
            opt.Step();
        }
        return (w.detach().clone(), i);
    }

    private static T OneThread<T>(Func<T> f)
    {
        int threads = get_num_threads();
        set_num_threads(1);
        try { return f(); }
        finally { set_num_threads(threads); }
    }

    /// <summary>What the collector did: how many collections, and the share of the loop's wall time the runtime spent paused in them.</summary>
    private sealed record Stress(int Collections, double PausedShare)
    {
        public override string ToString() => $"{Collections} forced collections, paused {PausedShare:P0} of the time";
    }

    /// <summary>
    /// The loop ran long enough, and under collection for a real share of the time (the collector aims
    /// at half; a busy machine gets less). A collection's length depends on the heap the earlier tests
    /// left, so their count alone does not say how much of the loop they covered.
    /// </summary>
    private static void AssertStressed(int steps, Stress stress)
    {
        Assert.True(steps >= MinSteps, $"only {steps} steps ran: nothing was stressed");
        Assert.True(stress.Collections >= 20 && stress.PausedShare >= 0.1, $"{stress} beside {steps} steps: nothing was stressed");
    }

    private static (T result, Stress stress) WithCollector<T>(Func<T> f)
    {
        int count = 0;
        var stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                long start = Stopwatch.GetTimestamp();
                _ = new byte[1024];
                GC.Collect();
                Interlocked.Increment(ref count);
                long until = 2 * Stopwatch.GetTimestamp() - start;
                while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
            }
        }) { IsBackground = true };
        var paused = GC.GetTotalPauseDuration();
        var clock = Stopwatch.StartNew();
        collector.Start();
        try { return (f(), new Stress(count, (GC.GetTotalPauseDuration() - paused) / clock.Elapsed)); }
        finally { Volatile.Write(ref stop, true); collector.Join(); }
    }
}
