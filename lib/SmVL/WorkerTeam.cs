namespace SmVL;

/// <summary>
/// A fixed team of background threads that runs one job in parts together with the caller, for work
/// too short for the .NET thread pool's hand-off (a decode step's products and attention, a few per
/// layer and token, each over in well under a millisecond). Between jobs a worker spins for a short while,
/// so the next product of the same token starts at once, then sleeps, so an idle team costs no CPU.
/// One job at a time: <see cref="Run"/> serialises its callers.
/// </summary>
public sealed class WorkerTeam
{
    private static readonly Dictionary<int, WorkerTeam> Teams = [];
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5000;   // 200 µs

    private readonly object _run = new(), _gate = new();
    private Action<int> _job = _ => { };
    private int _ticket, _pending, _sleepers;

    /// <summary>Threads a job runs on: the caller and <c>Size - 1</c> workers.</summary>
    public int Size { get; }

    private WorkerTeam(int size)
    {
        Size = size;
        for (int i = 1; i < size; i++)
            new Thread(Work) { IsBackground = true, Name = $"SmVL worker {i}" }.Start(i);
    }

    /// <summary>The process's team of <paramref name="size"/> threads (made on first use, kept for the process).</summary>
    public static WorkerTeam Of(int size)
    {
        lock (Teams)
        {
            if (!Teams.TryGetValue(size, out var team)) Teams[size] = team = new WorkerTeam(Math.Max(1, size));
            return team;
        }
    }

    /// <summary>Runs <c>part(0)</c> … <c>part(Size - 1)</c>, one per thread, and returns when all are done.</summary>
    public void Run(Action<int> part)
    {
        lock (_run)
        {
            if (Size == 1) { part(0); return; }
            _job = part;
            Volatile.Write(ref _pending, Size - 1);
            Interlocked.Increment(ref _ticket);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);
            part(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void Work(object? index)
    {
        int part = (int)index!, seen = 0;
        while (true)
        {
            long since = System.Diagnostics.Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _ticket) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() - since < SpinTicks) { Thread.SpinWait(16); continue; }
                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers);      // a full fence before reading the ticket: Run sees the sleeper or we see the job
                    while (Volatile.Read(ref _ticket) == seen) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepers);
                }
            }
            seen = Volatile.Read(ref _ticket);
            try { _job(part); }
            finally { Interlocked.Decrement(ref _pending); }
        }
    }
}
