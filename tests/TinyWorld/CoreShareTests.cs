using SmVL.Training;
using SmVL.TinyWorld;
using TorchSharp;
using Xunit;

namespace SmVL.Tests.TinyWorld;

public class CoreShareTests
{
    [Fact]
    public void EachJobHasItsShareAndTheTakerGetsEveryCoreOnlyAfterTheOthersFinished()
    {
        var seen = new Dictionary<string, List<(long step, int threads, int torchThreads)>> { ["taker"] = new(), ["other"] = new() };
        bool otherDone = false, takerSawOtherDone = false;
        CoreShare.Run(new CoreShare.Job[]
        {
            new("taker", share =>
            {
                for (long step = 0; step < 6; step++)
                {
                    share.Step(step);
                    if (step == 3) takerSawOtherDone = Volatile.Read(ref otherDone);
                    seen["taker"].Add((step, share.Threads, torch.get_num_threads()));
                }
            }, TakeAllCoresFrom: 3),
            new("other", share =>
            {
                Thread.Sleep(300);   // finishes well after the taker reached step 3, which must wait for it
                for (long step = 0; step < 3; step++) { share.Step(step); seen["other"].Add((step, share.Threads, torch.get_num_threads())); }
                Volatile.Write(ref otherDone, true);
            }),
        }, cores: 4, shares: 2);
        Assert.Equal(new[] { 2, 2, 2, 4, 4, 4 }, seen["taker"].Select(s => s.threads));
        Assert.Equal(seen["taker"].Select(s => s.threads), seen["taker"].Select(s => s.torchThreads));
        Assert.All(seen["other"], s => Assert.Equal((2, 2), (s.threads, s.torchThreads)));
        Assert.True(takerSawOtherDone, "the taker took every core before the other job had finished");
    }

    [Fact]
    public void AJobAloneKeepsTheScheduleItHasBesideTheOther()
    {
        var threads = new List<int>();
        CoreShare.Run(new CoreShare.Job[]
        {
            new("taker", share => { for (long step = 0; step < 4; step++) { share.Step(step); threads.Add(torch.get_num_threads()); } }, TakeAllCoresFrom: 2),
        }, cores: 4, shares: 2);
        Assert.Equal(new[] { 2, 2, 4, 4 }, threads);
    }

    [Fact]
    public void AJobWithAThreadCapKeepsItOnAnyCoreCount()
    {
        foreach (int cores in new[] { 1, 2, 4, 8 })
        {
            var threads = new List<int>();
            CoreShare.Run(new CoreShare.Job[]
            {
                new("capped", share => { for (long step = 0; step < 3; step++) { share.Step(step); threads.Add(torch.get_num_threads()); } }, MaxThreads: 1),
                new("other", share => { for (long step = 0; step < 3; step++) share.Step(step); }),
            }, cores, shares: 2);
            Assert.All(threads, t => Assert.Equal(1, t));
        }
    }

    [Fact]
    public void AFailingJobFailsTheRunWithItsOwnExceptionAndReleasesTheWaitingOne()
    {
        var e = Assert.Throws<InvalidDataException>(() => CoreShare.Run(new CoreShare.Job[]
        {
            new("bad", _ => throw new InvalidDataException("bad parent data")),
            new("taker", share => { for (long step = 0; step < 4; step++) share.Step(step); }, TakeAllCoresFrom: 1),
        }, cores: 2, shares: 2));
        Assert.Equal("bad parent data", e.Message);
    }
}
