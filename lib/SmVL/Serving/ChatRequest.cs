using System.Text.Json;
using SmVL.Generation;
using SmVL.Processing;

namespace SmVL.Serving;

/// <summary>
/// A chat request checked against the limits: the conversation as the chat template takes it, its
/// images decoded, and the decoding settings. Greedy unless a temperature above 0 (or a top_p
/// below 1 without a temperature) is sent, as <c>generate</c>; sampling has no top-k (OpenAI has none)
/// and a random seed unless one is sent.
/// </summary>
public sealed record ChatRequest(IReadOnlyList<ChatMessage> Messages, IReadOnlyList<RgbImage> Images, GenerationOptions Options,
                                 bool Stream, bool IncludeUsage)
{
    private static readonly string[] Roles = ["system", "developer", "user", "assistant"];

    /// <summary>Throws <see cref="ApiException"/> (400, or 404 for a model this server does not serve).</summary>
    public static ChatRequest From(ChatCompletionRequest body, string modelId, GenerationOptions defaults, ServeLimits limits)
    {
        if (string.IsNullOrEmpty(body.Model)) throw ApiException.BadRequest("you must provide a model parameter", "model");
        if (body.Model != modelId)
            throw new ApiException(404, $"The model `{body.Model}` does not exist; this server serves `{modelId}`", param: "model", code: "model_not_found");
        if (body.Messages is not { Count: > 0 } messages) throw ApiException.BadRequest("messages must be a non-empty array", "messages");
        if (body.N is { } n && n != 1) throw ApiException.BadRequest("only n = 1 is supported", "n");

        int maxTokens = body.MaxCompletionTokens ?? body.MaxTokens ?? Math.Min(limits.DefaultMaxTokens, limits.MaxNewTokens);
        string tokensParam = body.MaxCompletionTokens is null ? "max_tokens" : "max_completion_tokens";
        if (maxTokens < 1 || maxTokens > limits.MaxNewTokens)
            throw ApiException.BadRequest($"{tokensParam} must be between 1 and {limits.MaxNewTokens}, got {maxTokens}", tokensParam, "invalid_value");
        if (body.Temperature is { } t && (!double.IsFinite(t) || t < 0 || t > 2))
            throw ApiException.BadRequest($"temperature must be between 0 and 2, got {t}", "temperature", "invalid_value");
        if (body.TopP is { } p && (!double.IsFinite(p) || p <= 0 || p > 1))
            throw ApiException.BadRequest($"top_p must be in (0, 1], got {p}", "top_p", "invalid_value");
        bool sample = body.Temperature is { } temp ? temp > 0 : body.TopP < 1;
        var options = defaults with
        {
            MaxNewTokens = maxTokens, DoSample = sample, Temperature = body.Temperature ?? 1.0, TopP = body.TopP ?? 1.0, TopK = 0,
            Seed = body.Seed is { } s ? unchecked((ulong)s) : (ulong)Random.Shared.NextInt64(),
        };

        var chat = new List<ChatMessage>();
        var images = new List<RgbImage>();
        for (int i = 0; i < messages.Count; i++) chat.Add(Message(messages[i], $"messages[{i}]", images, limits));
        if (chat[^1].Role != "user") throw ApiException.BadRequest("the last message must be the user's", $"messages[{messages.Count - 1}].role");
        return new ChatRequest(chat, images, options, body.Stream == true, body.StreamOptions?.IncludeUsage == true);
    }

    private static ChatMessage Message(RequestMessage message, string where, List<RgbImage> images, ServeLimits limits)
    {
        if (message is null || !Roles.Contains(message.Role)) throw ApiException.BadRequest($"{where}.role must be one of {string.Join(", ", Roles)}", $"{where}.role");
        string role = message.Role == "developer" ? "system" : message.Role!;   // OpenAI's newer name for the system message
        var content = message.Content;
        if (content.ValueKind == JsonValueKind.String) return new ChatMessage(role, content.GetString());
        if (content.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"{where}.content must be a string or an array of parts", $"{where}.content");

        var parts = new List<ChatPart>();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            string at = $"{where}.content[{index++}]";
            string? type = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            if (type == "text" && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                parts.Add(ChatPart.TextPart(text.GetString()!));
            else if (type == "image_url" && role == "user")
            {
                if (images.Count == limits.MaxImages) throw ApiException.BadRequest($"at most {limits.MaxImages} images per request", at, "too_many_images");
                images.Add(DataUrlImage.Decode(ImageUrl(part, at), at, limits.MaxImagePixels));
                parts.Add(ChatPart.Image());
            }
            else if (type == "image_url") throw ApiException.BadRequest($"{at}: only user messages may carry images", at);
            else throw ApiException.BadRequest($"{at} must be {{\"type\":\"text\",\"text\":...}} or {{\"type\":\"image_url\",\"image_url\":{{\"url\":\"data:...\"}}}}", at);
        }
        return new ChatMessage(role, Parts: parts);
    }

    private static string ImageUrl(JsonElement part, string at) =>
        part.TryGetProperty("image_url", out var image) && image.ValueKind == JsonValueKind.Object
        && image.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String
            ? url.GetString()!
            : throw ApiException.BadRequest($"{at}.image_url.url must be a string", $"{at}.image_url.url");
}
