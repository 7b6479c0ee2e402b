using System.Text.Json.Serialization;

namespace SmVL.Serving;

/// <summary>A whole answer (<c>"object": "chat.completion"</c>), OpenAI's shape plus SmVL's <see cref="Smvl"/> extension.</summary>
public sealed record ChatCompletion(string Id, long Created, string Model, IReadOnlyList<CompletionChoice> Choices, Usage Usage, SmvlInfo Smvl)
{
    public string Object => "chat.completion";
    public string? SystemFingerprint => null;
}

public sealed record CompletionChoice(int Index, AssistantMessage Message, string FinishReason)
{
    public object? Logprobs => null;
}

public sealed record AssistantMessage(string Content)
{
    public string Role => "assistant";
    public string? Refusal => null;
}

/// <summary>One server-sent event of a streamed answer (<c>"object": "chat.completion.chunk"</c>); the first carries <see cref="Smvl"/>, the usage one has no choices.</summary>
public sealed record ChatCompletionChunk(string Id, long Created, string Model, IReadOnlyList<ChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SmvlInfo? Smvl = null)
{
    public string Object => "chat.completion.chunk";
    public string? SystemFingerprint => null;
}

public sealed record ChunkChoice(int Index, ChunkDelta Delta, string? FinishReason)
{
    public object? Logprobs => null;
}

public sealed record ChunkDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null);

public sealed record Usage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>
/// What the processor made of the request (an extension field, ignored by OpenAI clients): the
/// image tokens in the prompt and, per image, its tile grid (0×0: not split) and crops (tiles + the global image).
/// </summary>
public sealed record SmvlInfo(int ImageTokens, IReadOnlyList<TileInfo> Images);

public sealed record TileInfo(int Rows, int Cols, int Crops, int TileWidth, int TileHeight);
