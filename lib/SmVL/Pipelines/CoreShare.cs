using TorchSharp;

namespace SmVL.Pipelines;

/// <summary>
/// Jobs that train at once share the cores: each takes cores / (jobs running), so when one
/// finishes the others pick up its cores at their next step. The tiny world's small matrices keep
/// one core busy but gain little from a second (the reader: 12.3 it/s on one core, 17.4 on two),
/// so side by side jobs finish sooner than one after another, and the last one ends on every core.
/// libtorch's thread count belongs to the calling OS thread (OpenMP and MKL settings), so each job
/// sets its own, from its own thread, in <see cref="Step"/>.
/// </summary>
public sealed class CoreShare
{
    private readonly int _cores;
    private int _running;
    private readonly ThreadLocal<int> _threads = new();

    private CoreShare(int cores, int jobs) { _cores = cores; _running = jobs; }

    /// <summary>The threads this job's thread took at its last <see cref="Step"/> (0 before its first).</summary>
    public int Threads => _threads.Value;

    /// <summary>Runs the jobs at once and returns when all have finished (the first failure is rethrown).</summary>
    public static void Run(IReadOnlyList<Action<CoreShare>> jobs, int? cores = null)
    {
        int all = cores ?? torch.get_num_threads();
        var share = new CoreShare(all, jobs.Count);
        try
        {
            Parallel.ForEach(jobs, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs.Count) }, job =>
            {
                try { share.Step(); job(share); }
                finally
                {
                    Interlocked.Decrement(ref share._running);
                    torch.set_num_threads(all);   // the pool thread goes back with every core
                }
            });
        }
        catch (AggregateException e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        finally { share._threads.Dispose(); }
    }

    /// <summary>Called by a job between its steps: takes its share of the cores as they are now.</summary>
    public void Step()
    {
        int threads = Math.Max(1, _cores / Math.Max(1, Volatile.Read(ref _running)));
        if (threads == _threads.Value) return;
        torch.set_num_threads(threads);
        _threads.Value = threads;
    }
}
