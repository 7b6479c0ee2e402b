using System.Text.Json.Nodes;

namespace SmVL.Processing;

/// <summary>
/// One chat message in the shape apply_chat_template takes: a role and either plain text or a list
/// of parts (text and image placeholders), plus the optional assistant fields the Qwen3 templates
/// read (reasoning_content, tool_calls).
/// </summary>
public sealed record ChatMessage(string Role, string? Text = null, IReadOnlyList<ChatPart>? Parts = null)
{
    public string? ReasoningContent { get; init; }
    /// <summary>HF tool calls, e.g. [{"type":"function","function":{"name":..,"arguments":{..}}}].</summary>
    public JsonArray? ToolCalls { get; init; }

    public static ChatMessage System(string text) => new("system", text);
    public static ChatMessage User(string text) => new("user", text);
    public static ChatMessage User(params ChatPart[] parts) => new("user", Parts: parts);
    public static ChatMessage Assistant(string text) => new("assistant", text);

    public JsonObject ToJson()
    {
        var o = new JsonObject { ["role"] = Role };
        o["content"] = Parts is null ? Text is null ? null : JsonValue.Create(Text) : new JsonArray(Parts.Select(p => (JsonNode)p.ToJson()).ToArray());
        if (ReasoningContent is not null) o["reasoning_content"] = ReasoningContent;
        if (ToolCalls is not null) o["tool_calls"] = ToolCalls.DeepClone();
        return o;
    }
}

/// <summary>A part of list content: {"type":"text","text":..} or {"type":"image"}.</summary>
public sealed record ChatPart(string Type, string? Text = null)
{
    public static ChatPart Image() => new("image");
    public static ChatPart TextPart(string text) => new("text", text);

    public JsonObject ToJson() => Text is null ? new JsonObject { ["type"] = Type } : new JsonObject { ["type"] = Type, ["text"] = Text };
}
