using System.Runtime.ExceptionServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>One micro-batch after its backward pass: its summed loss and counts (see <see cref="MicroBatchLoss"/>).</summary>
public readonly record struct MicroBatchResult(float Sum, long Items, long Tokens, long Samples);

/// <summary>
/// Gradient accumulation with a step's micro-batches computed side by side: the model and copies
/// of it ("replicas") each take one micro-batch on their own thread, with one libtorch thread each,
/// and the replicas' gradients are then added to the model's in micro-batch order. That is the sum
/// sequential accumulation computes (autograd adds each micro-batch's gradient to the one before),
/// so the step's gradients are bitwise those of the same micro-batches one after another, whatever
/// <see cref="Workers"/> is. For small models, whose operations are too small for libtorch's own
/// threads to help, this is how a second core speeds a step up.
/// </summary>
public sealed class ParallelMicroBatches : IDisposable
{
    private readonly List<(string name, Parameter p)> _master;
    private readonly nn.Module[] _replicas;
    private readonly List<(string name, Parameter p)>[] _replicaParams;
    private IObjective[] _objectives = [];
    private bool _stale = true, _synced;
    private int _workers = 1;

    /// <param name="master">the model the trainer optimises</param>
    /// <param name="replicas">modules of the same architecture (their weights are overwritten with the model's)</param>
    public ParallelMicroBatches(nn.Module master, IEnumerable<nn.Module> replicas)
    {
        _master = master.named_parameters().Select(np => (np.name, np.parameter)).ToList();
        _replicas = replicas.ToArray();
        _replicaParams = _replicas.Select(r => r.named_parameters().Select(np => (np.name, np.parameter)).ToList()).ToArray();
        foreach (var ps in _replicaParams)
            if (!ps.Select(p => (p.name, string.Join(",", p.p.shape))).SequenceEqual(_master.Select(p => (p.name, string.Join(",", p.p.shape)))))
                throw new ArgumentException("a replica's parameters differ from the model's in name or shape");
        Master = master;
    }

    public nn.Module Master { get; }

    /// <summary>The model and its replicas.</summary>
    public int MaxWorkers => 1 + _replicas.Length;

    /// <summary>How many micro-batches run side by side from now on (1 to <see cref="MaxWorkers"/>); set it between steps.</summary>
    public int Workers
    {
        get => _workers;
        set => _workers = Math.Clamp(value, 1, MaxWorkers);
    }

    /// <summary>The objective for each worker: the model's own, then one per replica (<paramref name="of"/> binds a model to the data).</summary>
    internal void Bind(IObjective master, Func<nn.Module, IObjective> of) => _objectives = [master, .. _replicas.Select(of)];

    internal void Train(bool on)
    {
        foreach (var r in _replicas) r.train(on);
    }

    /// <summary>Called after each optimizer step: the replicas copy the model's weights before they next compute.</summary>
    internal void WeightsChanged() => _stale = true;

    /// <summary>
    /// Backward passes of micro-batches <paramref name="first"/> … first+count−1 side by side; afterwards
    /// the model's gradients hold their sum as sequential accumulation would.
    /// </summary>
    internal MicroBatchResult[] Backward(long first, int count)
    {
        if (count > MaxWorkers) throw new ArgumentOutOfRangeException(nameof(count), $"{count} micro-batches need {count} workers, there are {MaxWorkers}");
        Sync();
        var results = new MicroBatchResult[count];
        var failures = new Exception?[count];
        int restore = torch.get_num_threads();
        try
        {
            WorkerTeam.Of(count).Run(w =>
            {
                try
                {
                    torch.set_num_threads(1);
                    results[w] = Trainer.Backward(_objectives[w], first + w);
                }
                catch (Exception e) { failures[w] = e; }
            });
        }
        finally { torch.set_num_threads(restore); }
        if (failures.FirstOrDefault(f => f is not null) is { } failure) ExceptionDispatchInfo.Capture(failure).Throw();
        using var _ = no_grad();
        for (int w = 1; w < count; w++)
            for (int i = 0; i < _master.Count; i++)
            {
                var (_, r) = _replicaParams[w - 1][i];
                using var g = r.grad;
                if (g is null) continue;
                var p = _master[i].p;
                using var acc = p.grad;
                if (acc is not null) acc.add_(g, Scalars.One);
                else p.grad = g;   // the parameter now holds the gradient; the wrappers are released below
                r.grad = null;
            }
        return results;
    }

    private void Sync()
    {
        if (!_stale) return;
        using var _ = no_grad();
        for (int w = 0; w < _replicas.Length; w++)
        {
            for (int i = 0; i < _master.Count; i++)
                if (!_synced || _master[i].p.requires_grad) _replicaParams[w][i].p.copy_(_master[i].p);
            if (!_synced)
            {
                var buffers = Master.named_buffers().ToDictionary(b => b.name, b => b.buffer);
                foreach (var (name, b) in _replicas[w].named_buffers()) b.copy_(buffers[name]);
            }
        }
        _stale = false;
        _synced = true;
    }

    public void Dispose()
    {
        foreach (var r in _replicas) r.Dispose();
    }
}
