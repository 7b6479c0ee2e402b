using System.Threading.Channels;
using SmVL.Models;
using SmVL.Processing;
using TorchSharp;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Serving;

/// <summary>
/// The one owner of the model: a single worker thread takes queued <see cref="DecodeJob"/>s and
/// decodes them with <see cref="Generator.Generate"/>, batching waiting greedy jobs (up to
/// <see cref="ServeLimits.MaxBatch"/>) into one left-padded decode. TorchSharp runs on that thread
/// only (its grad mode and dispose scopes are per thread). Admission is bounded: <see cref="TryAdmit"/>
/// refuses once <see cref="ServeLimits.MaxInFlight"/> requests are in, and each admitted request
/// calls <see cref="Leave"/> when its response is done.
/// </summary>
public sealed class DecodeQueue : IDisposable
{
    private readonly SmolVLMForConditionalGeneration _model;
    private readonly ServeLimits _limits;
    private readonly Channel<DecodeJob> _jobs = Channel.CreateUnbounded<DecodeJob>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _worker;
    private readonly CancellationTokenSource _stopping = new();
    private int _inFlight;
    private long _decodes, _decodedJobs;

    public DecodeQueue(SmolVLMForConditionalGeneration model, ServeLimits limits)
    {
        _model = model;
        _limits = limits;
        _worker = new Thread(Work) { Name = "smvl-decode", IsBackground = true };
        _worker.Start();
    }

    public int InFlight => Volatile.Read(ref _inFlight);
    /// <summary>Decodes run so far, and the requests they decoded (fewer decodes than requests: batching happened).</summary>
    public long Decodes => Interlocked.Read(ref _decodes);
    public long DecodedJobs => Interlocked.Read(ref _decodedJobs);

    public bool TryAdmit()
    {
        if (Interlocked.Increment(ref _inFlight) <= _limits.MaxInFlight) return true;
        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref _inFlight);

    public void Enqueue(DecodeJob job)
    {
        if (!_jobs.Writer.TryWrite(job)) job.Finish(new ObjectDisposedException(nameof(DecodeQueue)));
    }

    private void Work()
    {
        var reader = _jobs.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            if (!reader.TryRead(out var first)) continue;
            if (_stopping.IsCancellationRequested) { first.Finish(new ObjectDisposedException(nameof(DecodeQueue), "the server is stopping")); continue; }
            var batch = new List<DecodeJob> { first };
            while (batch.Count < _limits.MaxBatch && reader.TryPeek(out var next) && first.CanShareBatchWith(next) && reader.TryRead(out next))
                batch.Add(next);
            Run(batch.Where(j => !j.Abandoned.IsCancellationRequested).ToList());
            foreach (var job in batch) job.Finish(job.Abandoned.IsCancellationRequested ? new OperationCanceledException(job.Abandoned) : null);
        }
    }

    /// <summary>One decode for the batch; a job stops at its own max tokens or stop id, the decode when every job has stopped.</summary>
    private void Run(List<DecodeJob> batch)
    {
        if (batch.Count == 0) return;
        Interlocked.Increment(ref _decodes);
        Interlocked.Add(ref _decodedJobs, batch.Count);
        using var allDone = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        using var scope = torch.NewDisposeScope();
        try
        {
            var pixels = Processor.PixelValues(batch.Select(j => j.Sample).ToList())?.to(_model.parameters().First().device);
            var options = batch[0].Options with { MaxNewTokens = batch.Max(j => j.Options.MaxNewTokens) };
            using var _ = Generator.Generate(_model, batch.Select(j => j.Sample.InputIds).ToList(), pixels, options, (row, token) =>
            {
                batch[row].Push(token);
                if (batch.All(j => j.Done)) allDone.Cancel();
            }, allDone.Token);
        }
        catch (OperationCanceledException) when (allDone.IsCancellationRequested && !_stopping.IsCancellationRequested) { }
        catch (Exception e)
        {
            foreach (var job in batch) job.Finish(e);
        }
    }

    /// <summary>Stops: the decode in progress ends at its next step, queued jobs fail, and the worker thread ends.</summary>
    public void Dispose()
    {
        _stopping.Cancel();
        _jobs.Writer.TryComplete();
        _worker.Join();
        _stopping.Dispose();
    }
}
