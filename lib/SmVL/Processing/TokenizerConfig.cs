using System.Text.Json.Nodes;

namespace SmVL.Processing;

/// <summary>
/// The few values of an HF <c>tokenizer_config.json</c> the pipeline uses: the chat template and
/// the eos/pad/bos tokens (HF writes these either as a string or as an AddedToken object).
/// </summary>
public sealed record TokenizerConfig(string? ChatTemplate, string? EosToken, string? PadToken, string? BosToken, string? TokenizerClass)
{
    public static TokenizerConfig FromFile(string path)
    {
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException("empty JSON"); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        { throw new InvalidDataException($"{path}: not a tokenizer_config.json ({e.Message})", e); }
        return new TokenizerConfig(ChatTemplateOf(root["chat_template"], path), TokenText(root["eos_token"]),
            TokenText(root["pad_token"]), TokenText(root["bos_token"]), root["tokenizer_class"]?.GetValue<string>());
    }

    private static string? TokenText(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v => v.GetValue<string>(),
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    // Newer configs may hold several named templates; "default" is the one apply_chat_template uses.
    private static string? ChatTemplateOf(JsonNode? node, string path) => node switch
    {
        null => null,
        JsonValue v => v.GetValue<string>(),
        JsonArray a => (a.FirstOrDefault(t => t?["name"]?.GetValue<string>() == "default") ?? a.FirstOrDefault())?["template"]?.GetValue<string>(),
        _ => throw new InvalidDataException($"{path}: chat_template is neither a string nor a list of named templates"),
    };
}
