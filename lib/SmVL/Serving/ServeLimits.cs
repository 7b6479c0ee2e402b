namespace SmVL.Serving;

/// <summary>
/// What one request may ask of the server, and how many may be in flight. A request over a limit
/// is answered 400 (413 for the body, 429 when <see cref="MaxInFlight"/> requests are already
/// admitted), so memory is bounded by these numbers, not by the clients.
/// </summary>
public sealed record ServeLimits
{
    /// <summary>Request body cap in bytes (OpenAI's own image cap is 20 MB); a larger body is answered 413.</summary>
    public long MaxBodyBytes { get; init; } = 20 * 1024 * 1024;
    public int MaxImages { get; init; } = 4;
    /// <summary>Pixels per image as its header claims them, checked before anything is decoded.</summary>
    public long MaxImagePixels { get; init; } = 4096L * 4096;
    /// <summary>Prompt length after the image tokens are expanded.</summary>
    public int MaxPromptTokens { get; init; } = 8192;
    public int MaxNewTokens { get; init; } = 1024;
    /// <summary>max_tokens when a request does not say.</summary>
    public int DefaultMaxTokens { get; init; } = 256;
    /// <summary>Requests admitted at once (being read, queued or decoding); one more is answered 429.</summary>
    public int MaxInFlight { get; init; } = 16;
    /// <summary>Greedy requests decoded together in one batch.</summary>
    public int MaxBatch { get; init; } = 8;
}
