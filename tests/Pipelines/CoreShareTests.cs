using SmVL.Pipelines;
using Xunit;

namespace SmVL.Tests.Pipelines;

public class CoreShareTests
{
    [Fact]
    public void A_finished_job_hands_its_cores_to_the_one_still_running()
    {
        int first = 0, later = 0;
        using var started = new ManualResetEventSlim();
        CoreShare.Run(new Action<CoreShare>[]
        {
            _ => started.Wait(TimeSpan.FromSeconds(10)),   // ends only once the other has taken its first share
            share =>
            {
                first = share.Threads;
                started.Set();
                SpinWait.SpinUntil(() => { share.Step(); return share.Threads == 2; }, TimeSpan.FromSeconds(10));
                later = share.Threads;
            },
        }, cores: 2);
        Assert.Equal(1, first);
        Assert.Equal(2, later);
    }

    [Fact]
    public void A_failing_job_fails_the_run_with_its_own_exception()
    {
        var e = Assert.Throws<InvalidDataException>(() => CoreShare.Run(new Action<CoreShare>[]
        {
            _ => throw new InvalidDataException("bad parent data"),
            _ => { },
        }, cores: 2));
        Assert.Equal("bad parent data", e.Message);
    }
}
