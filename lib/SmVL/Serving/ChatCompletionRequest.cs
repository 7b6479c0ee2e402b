using System.Text.Json;

namespace SmVL.Serving;

/// <summary>
/// The body of <c>POST /v1/chat/completions</c> as OpenAI names it (snake_case on the wire). Only
/// what SmVL can honour is read; <see cref="ChatRequest.From"/> checks it.
/// </summary>
public sealed record ChatCompletionRequest
{
    public string? Model { get; init; }
    public IReadOnlyList<RequestMessage>? Messages { get; init; }
    /// <summary>The older name of <see cref="MaxCompletionTokens"/>; either may be sent.</summary>
    public int? MaxTokens { get; init; }
    public int? MaxCompletionTokens { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public long? Seed { get; init; }
    public int? N { get; init; }
    public bool? Stream { get; init; }
    public StreamOptions? StreamOptions { get; init; }
}

/// <summary>One message: <see cref="Content"/> is a string or an array of <c>text</c> / <c>image_url</c> parts.</summary>
public sealed record RequestMessage(string? Role, JsonElement Content);

public sealed record StreamOptions(bool? IncludeUsage);
