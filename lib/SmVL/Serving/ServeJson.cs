using System.Text.Encodings.Web;
using System.Text.Json;

namespace SmVL.Serving;

/// <summary>The wire format: OpenAI's snake_case names, nulls written (OpenAI sends finish_reason: null), Chinese unescaped.</summary>
public static class ServeJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
