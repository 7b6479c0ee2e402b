using System.Threading.Channels;
using SmVL.Generation;
using SmVL.Processing;

namespace SmVL.Serving;

/// <summary>
/// One request's decode: its processed prompt and settings in, its tokens out as they are chosen
/// (<see cref="Tokens"/>, read by the HTTP side), then how it ended. Written only by the decode worker.
/// </summary>
public sealed class DecodeJob(ProcessedSample sample, GenerationOptions options, CancellationToken abandoned)
{
    private readonly Channel<long> _tokens = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private int _count;

    public ProcessedSample Sample { get; } = sample;
    public GenerationOptions Options { get; } = options;
    /// <summary>Set when the client went away: the worker stops decoding for it.</summary>
    public CancellationToken Abandoned { get; } = abandoned;
    public ChannelReader<long> Tokens => _tokens.Reader;
    /// <summary>"stop" (a stop id was produced) or "length" (max tokens reached); set before <see cref="Tokens"/> completes.</summary>
    public string FinishReason { get; private set; } = "length";
    /// <summary>Finished, failed or abandoned: nothing more is decoded for it.</summary>
    public bool Done { get; private set; }

    /// <summary>Greedy requests with the same penalty decode alike in one batch; a sampled request runs alone, so its seed alone decides its tokens.</summary>
    public bool CanShareBatchWith(DecodeJob other) =>
        !Options.DoSample && !other.Options.DoSample && Options.RepetitionPenalty == other.Options.RepetitionPenalty;

    internal void Push(long token)
    {
        if (Done) return;
        if (Abandoned.IsCancellationRequested) { Finish(new OperationCanceledException(Abandoned)); return; }
        _tokens.Writer.TryWrite(token);
        if (Options.EosTokenIds.Contains(token)) { FinishReason = "stop"; Finish(); }
        else if (++_count == Options.MaxNewTokens) Finish();
    }

    internal void Finish(Exception? error = null)
    {
        if (Done) return;
        Done = true;
        _tokens.Writer.TryComplete(error);
    }
}
