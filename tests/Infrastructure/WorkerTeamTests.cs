using Xunit;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// The team behind the decode kernels: every run calls each part exactly once and returns only
/// after all have finished, both when the workers are spinning (back-to-back runs) and after they
/// have gone to sleep; callers on several threads are served one job at a time.
/// </summary>
public class WorkerTeamTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryPartRunsOnceAndRunReturnsAfterAll(int size)
    {
        var team = WorkerTeam.Of(size);
        Assert.Same(team, WorkerTeam.Of(size));
        var counts = new int[size];
        for (int run = 1; run <= 2000; run++)
        {
            if (run % 500 == 0) Thread.Sleep(5);          // past the spin: the workers sleep and must be woken
            team.Run(part => { Thread.SpinWait(part * 50); Interlocked.Increment(ref counts[part]); });
            Assert.All(counts, c => Assert.Equal(run, c));
        }
    }

    [Fact]
    public void ConcurrentCallersAreServedOneJobAtATime()
    {
        var team = WorkerTeam.Of(2);
        int inside = 0, overlaps = 0, parts = 0;
        void Job(int part)
        {
            if (part == 0 && Interlocked.Increment(ref inside) > 1) Interlocked.Increment(ref overlaps);
            Interlocked.Increment(ref parts);
            Thread.SpinWait(200);
            if (part == 0) Interlocked.Decrement(ref inside);
        }
        Parallel.For(0, 4, _ => { for (int i = 0; i < 500; i++) team.Run(Job); });
        Assert.Equal(0, overlaps);
        Assert.Equal(4 * 500 * 2, parts);
    }
}
