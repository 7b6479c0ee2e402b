using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace SmVL.Checkpoints;

/// <summary>
/// Base of the HF `config.json` records. Typed properties carry the fields SmVL reads; every other
/// key is kept in <see cref="Extra"/> so a config read and written back keeps what we don't model.
/// </summary>
public abstract record HfConfig
{
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static T Load<T>(string path) where T : HfConfig
    {
        if (Directory.Exists(path)) path = System.IO.Path.Combine(path, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"config not found: {path}", path);
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new JsonException("empty document"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid {typeof(T).Name}: {e.Message}", e); }
    }

    public static T Parse<T>(string json) where T : HfConfig => JsonSerializer.Deserialize<T>(json, Json)!;

    public string ToJson() => JsonSerializer.Serialize(this, GetType(), Json);

    public void Save(string path)
    {
        if (Directory.Exists(path)) path = System.IO.Path.Combine(path, "config.json");
        File.WriteAllText(path, ToJson());
    }

    /// <summary>A JSON value HF allows as int or list of ints (eos_token_id).</summary>
    internal static int[] Ints(JsonNode? node) => node switch
    {
        null => Array.Empty<int>(),
        JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
        _ => new[] { node.GetValue<int>() },
    };
}
