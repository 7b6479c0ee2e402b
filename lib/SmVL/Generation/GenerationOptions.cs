namespace SmVL.Generation;

/// <summary>
/// Decoding settings, named and applied as HF `generate` does. Sampling knobs are read only with
/// <see cref="DoSample"/>; the repetition penalty applies to greedy decoding too (as in HF).
/// Defaults: greedy, Qwen3's stop ids (151645 `&lt;|im_end|&gt;`, 151643 `&lt;|endoftext|&gt;`),
/// pad 151643, HF's sampling defaults (temperature 1, top-k 50, top-p 1).
/// </summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 256;
    public bool DoSample { get; init; }
    /// <summary>Divides the logits when sampling; must be &gt; 0 (a tiny value approaches greedy).</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep the k most likely tokens when sampling; 0 = off.</summary>
    public int TopK { get; init; } = 50;
    /// <summary>Keep the smallest set of tokens whose probability reaches p when sampling; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>HF's CTRL-style penalty on every token already in the sequence; 1 = off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    public ulong Seed { get; init; }
    public IReadOnlyList<long> EosTokenIds { get; init; } = [151645, 151643];
    /// <summary>Left padding of shorter prompts, and what finished rows keep emitting.</summary>
    public long PadTokenId { get; init; } = 151643;
    /// <summary>Keep each step's raw float32 logits (before penalty/warping), as HF's output_logits.</summary>
    public bool ReturnLogits { get; init; }

    internal void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException("MaxNewTokens must be >= 0");
        if (RepetitionPenalty <= 0) throw new ArgumentException("RepetitionPenalty must be > 0");
        if (!DoSample) return;
        if (Temperature <= 0) throw new ArgumentException("Temperature must be > 0 when sampling (use DoSample = false for greedy)");
        if (TopK < 0) throw new ArgumentException("TopK must be >= 0");
        if (TopP is <= 0 or > 1) throw new ArgumentException("TopP must be in (0, 1]");
    }
}
