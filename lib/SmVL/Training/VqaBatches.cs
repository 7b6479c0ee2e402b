using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Training;
using SmVL.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// Micro-batch i = the samples at positions [i·B, (i+1)·B) of a sample sequence, processed on
/// demand (images stay encoded until their batch is built, so a 60k-sample run never holds its
/// pixels in memory). The sequence is read forward with a cursor and restarted only when an
/// earlier position is asked for. A checkpoint records where the next micro-batch starts (the
/// token of the sample before it), so a resumed run reads on from there instead of reading every
/// earlier sample again. With <c>wrap</c> the sequence repeats (epochs, same order); without it a
/// batch past the end is shorter or empty.
/// A sample longer than max_length is cut on the right, as the reference's
/// `truncation=True`, when the cut leaves every image token in place; when it would cut image
/// tokens (the reference crashed there) the sample is left out of its micro-batch and counted.
/// </summary>
public sealed class VqaBatches : IBatchSource
{
    private readonly Processor _processor;
    private readonly ISampleSequence _samples;
    private readonly int _microBatch, _maxLength;
    private readonly LabelPolicy _policy;
    private readonly Device _device;
    private readonly bool _wrap;
    private IEnumerator<(VqaSample Sample, string Token)>? _cursor;
    private long _next;                 // position of the sample the cursor yields next (absolute after a seek, else within a pass)
    private VqaSample? _current;        // the sample at _next - 1
    private string? _after;             // its token (null before the first sample of a pass)
    private long? _count;               // known once the sequence has been read to its end from its start
    private bool _seeked;               // the cursor was placed by Seek: positions are absolute until the sequence ends

    /// <param name="samples">the sequence; position k is always the same sample</param>
    public VqaBatches(Processor processor, ISampleSequence samples, int microBatch, LabelPolicy policy,
                      int maxLength, Device? device = null, bool wrap = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        _processor = processor; _samples = samples; _microBatch = microBatch; _policy = policy;
        _maxLength = maxLength; _device = device ?? CPU; _wrap = wrap;
    }

    /// <summary>Samples cut on the right to max_length (image tokens intact).</summary>
    public long Truncated { get; private set; }
    /// <summary>Samples left out because max_length falls inside their image tokens.</summary>
    public long Dropped { get; private set; }
    /// <summary>Samples read from the sequence so far (a resume that seeks reads only what it trains on).</summary>
    public long SamplesRead { get; private set; }

    /// <summary>Micro-batches that cover the sequence once (reads it to its end to count).</summary>
    public long BatchesPerPass => (Count() + _microBatch - 1) / _microBatch;

    public Batch Get(long i)
    {
        var kept = new List<ProcessedSample>(_microBatch);
        var ids = new List<string>(_microBatch);
        for (long k = i * _microBatch; k < (i + 1) * _microBatch; k++)
        {
            if (At(k) is not { } sample) break;
            ids.Add(sample.Id);
            if (Fit(Process(sample)) is { } fitted) kept.Add(fitted);
        }
        if (kept.Count == 0)
            throw new InvalidDataException(ids.Count == 0
                ? $"micro-batch {i}: no samples at positions {i * _microBatch}.. (the sequence has {Count()})"
                : $"micro-batch {i}: max_length {_maxLength} cuts into the image tokens of every sample ({string.Join(", ", ids)}); raise max_length");
        var batch = _processor.Collate(kept, _maxLength);
        if (_device.type == DeviceType.CPU) return batch;
        using (batch) return batch.To(_device);
    }

    /// <summary>"position|token": known when the cursor stands right before micro-batch <paramref name="i"/> (as after training micro-batch i − 1).</summary>
    public string? PositionOf(long i)
    {
        long k = i * _microBatch;
        long here = _count is { } n && !_seeked ? k % n : k;
        return _cursor is not null && _next == here ? FormattableString.Invariant($"{k}|{_after}") : null;
    }

    public void Seek(long i, string position)
    {
        int bar = position.IndexOf('|');
        if (bar < 0 || !long.TryParse(position[..bar], out long k) || k != i * _microBatch)
            throw new InvalidDataException($"data position '{position}' does not start micro-batch {i} (micro-batch size {_microBatch})");
        string? after = bar == position.Length - 1 ? null : position[(bar + 1)..];
        _cursor?.Dispose();
        _cursor = _samples.From(after).GetEnumerator();
        (_next, _current, _after, _count, _seeked) = (k, null, after, null, true);
    }

    private ProcessedSample Process(VqaSample s)
    {
        // The reference's collator: first image, first turn (SampleOptions.FirstImageFirstTurn).
        var turn = s.Turns[0];
        var example = new VqaExample(s.Id, s.DecodeImage(), turn.User, turn.Assistant, turn.QuestionType ?? s.Subset);
        return _processor.Process(example.Messages(withAnswer: true), new[] { example.Image }, _policy, templateVars: ChatTemplate.NoThinking);
    }

    private ProcessedSample? Fit(ProcessedSample p)
    {
        if (p.InputIds.Length <= _maxLength) return p;
        if (Array.LastIndexOf(p.InputIds, (long)_processor.ImageTokenId) >= _maxLength) { Dropped++; return null; }
        Truncated++;
        return p with { InputIds = p.InputIds[.._maxLength], Labels = p.Labels[.._maxLength] };
    }

    /// <summary>The sample at position k (wrapped when the sequence repeats), or null past the end.</summary>
    private VqaSample? At(long k)
    {
        if (_count is { } n) { if (!_wrap && k >= n) return null; k %= n; }
        if (_cursor is null || k < _next - 1) Restart();
        while (_next <= k)
        {
            if (!_cursor!.MoveNext())
            {
                if (_seeked)
                {
                    // A seeked cursor does not know the sequence's length: count it once from the start.
                    _seeked = false;
                    Restart();
                    Count();
                    return At(k);
                }
                if (_next == 0) throw new InvalidDataException("the sample sequence is empty");
                _count = _next;
                if (!_wrap) return null;
                Restart();
                k %= _count.Value;
                continue;
            }
            (_current, _after) = _cursor.Current;
            _next++;
            SamplesRead++;
        }
        return _current;
    }

    private long Count()
    {
        while (_count is null) At(long.MaxValue / 2);
        return _count.Value;
    }

    private void Restart()
    {
        _cursor?.Dispose();
        _cursor = _samples.From(null).GetEnumerator();
        (_next, _current, _after, _seeked) = (0, null, null, false);
    }
}
