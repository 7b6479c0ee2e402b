using System.Runtime.ExceptionServices;
using TorchSharp;

namespace SmVL.TinyWorld;

/// <summary>
/// Training jobs side by side, each on its own thread with a fixed share of the cores (cores /
/// shares, the planned number of jobs, whether or not all of them run this time). A job's thread
/// count at every step depends on the core count alone, never on timing or on which jobs were
/// cached: libtorch's float summation order, and so the trained weights, depends on it. One job may
/// take every core from a given step on: it waits there for the others to finish. With one core,
/// or one job, the jobs run one after another. Running two TorchSharp loops in one process is
/// safe because SmVL never leaves a Scalar or a tensor to the finalizer mid-call
/// (tests/Infrastructure: ImplicitScalarGuardTests, FinalizerStressTests).
/// </summary>
public sealed class CoreShare
{
    /// <summary>A job, the step from which it takes every core (null: its share throughout), and at most how many threads it ever uses (null: its share).</summary>
    public sealed record Job(string Name, Action<CoreShare> Run, long? TakeAllCoresFrom = null, int? MaxThreads = null);

    private readonly Job _job;
    private readonly int _cores;
    private readonly Func<bool>? _waitForOthers;   // null when running alone

    private CoreShare(Job job, int threads, int cores, Func<bool>? waitForOthers)
    {
        _job = job; Threads = threads; _cores = cores; _waitForOthers = waitForOthers;
    }

    /// <summary>The libtorch threads this job uses now.</summary>
    public int Threads { get; private set; }

    /// <summary>Runs the jobs and returns when all have finished (the first failure is rethrown).</summary>
    public static void Run(IReadOnlyList<Job> jobs, int cores, int shares)
    {
        int all = Math.Max(1, cores), share = Math.Max(1, all / Math.Max(1, shares));
        if (jobs.Count(j => j.TakeAllCoresFrom is not null) > 1)
            throw new ArgumentException("at most one job may take every core: two would wait for each other");
        int restore = torch.get_num_threads();
        try
        {
            if (all < 2 || jobs.Count < 2)
            {
                foreach (var job in jobs) RunOn(new CoreShare(job, ThreadsOf(job, share), all, null));
                return;
            }
            var done = jobs.Select(_ => new ManualResetEventSlim()).ToArray();
            var failures = new Exception?[jobs.Count];
            var threads = jobs.Select((job, i) => new Thread(() =>
            {
                // Waiting for the others: true when all of them succeeded.
                bool Others()
                {
                    for (int k = 0; k < jobs.Count; k++) if (k != i) done[k].Wait();
                    return failures.Where((_, k) => k != i).All(f => f is null);
                }
                try { RunOn(new CoreShare(job, ThreadsOf(job, share), all, Others)); }
                catch (Exception e) { failures[i] = e; }
                finally { done[i].Set(); }
            }) { Name = job.Name, IsBackground = true }).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            // The job that gave up because another failed reports that one's exception; jobs that were all cancelled report that.
            if ((failures.FirstOrDefault(f => f is not null and not OperationCanceledException) ?? failures.FirstOrDefault(f => f is not null)) is { } first)
                ExceptionDispatchInfo.Capture(first).Throw();
        }
        finally { torch.set_num_threads(restore); }
    }

    private static int ThreadsOf(Job job, int share) => Math.Min(share, job.MaxThreads ?? share);

    private static void RunOn(CoreShare share)
    {
        torch.set_num_threads(share.Threads);   // per OS thread (OpenMP / MKL settings)
        share._job.Run(share);
    }

    /// <summary>Called by a job before its step <paramref name="step"/> (0-based).</summary>
    public void Step(long step)
    {
        if (_job.TakeAllCoresFrom is not { } from || step < from || Threads == _cores) return;
        if (_waitForOthers is not null && !_waitForOthers())
            throw new OperationCanceledException($"{_job.Name}: another job failed");
        Threads = _cores;
        torch.set_num_threads(_cores);
    }
}
