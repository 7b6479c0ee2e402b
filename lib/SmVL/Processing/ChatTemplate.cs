using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Jint.Native;

namespace SmVL.Processing;

/// <summary>
/// An HF chat template (Jinja), rendered as transformers' apply_chat_template does with Python
/// jinja2 (trim_blocks, lstrip_blocks, tojson = json.dumps(ensure_ascii=False), raise_exception,
/// strftime_now). The engine is HF's own JavaScript Jinja (@huggingface/jinja) running in-process
/// under Jint, with a polyfill for the places it prints values differently from Python
/// (<see cref="ChatTemplatePolyfill"/>); tests compare renders byte for byte with jinja2.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Qwen3's `enable_thinking=False`: the prompt ends in an empty think block (how SmVL trains and answers). A new dictionary each time.</summary>
    public static IDictionary<string, object?> NoThinking => new Dictionary<string, object?> { ["enable_thinking"] = false };

    private readonly JsValue _parsed;
    // Renders by template and input, shared by every instance: a training run renders the same
    // conversations every epoch, each twice (the whole text and its prompt, for the labels), and the
    // main job's five runs render the same data, and each render runs JavaScript under Jint. Not for templates that
    // read the clock. Bounded (16M characters, ~32 MB): emptied when full.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string source, string input), string> Renders = new();
    private static long _renderedChars;
    private const long MaxRenderedChars = 16 << 20;
    private readonly bool _memoise;

    public string Source { get; }

    public ChatTemplate(string source)
    {
        Source = source;
        // jinja2's lexer turns every \r\n or \r in template text into \n (newline_sequence).
        _parsed = ChatTemplateEngine.Parse(System.Text.RegularExpressions.Regex.Replace(source, @"\r\n?", "\n"));
        _memoise = !source.Contains("strftime_now", StringComparison.Ordinal);
    }

    /// <summary>
    /// A template file: Jinja text (<c>chat_template.jinja</c>), or the JSON files HF keeps it in
    /// (<c>chat_template.json</c>, <c>tokenizer_config.json</c>, <c>processor_config.json</c>: the
    /// <c>chat_template</c> field, the "default" one when it is a list of named templates).
    /// </summary>
    public static ChatTemplate FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"chat template not found: {path}", path);
        string source = path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? TokenizerConfig.FromFile(path).ChatTemplate ?? throw new FormatException($"{path}: no chat_template field")
            : File.ReadAllText(path, Encoding.UTF8);
        try { return new ChatTemplate(source); }
        catch (FormatException e) { throw new FormatException($"{path}: {e.Message}", e); }
    }

    /// <summary>The Qwen3-SmVL template the blog trains with (Templates/qwen3_smvl.jinja).</summary>
    public static ChatTemplate Qwen3SmVL() => new(Qwen3SmVLSource);
    private static readonly string Qwen3SmVLSource = EmbeddedText.Read("qwen3_smvl.jinja");

    /// <summary>
    /// Render with apply_chat_template's keyword arguments (messages, tools, add_generation_prompt,
    /// enable_thinking, any other template variable). Like transformers, tools and documents are
    /// None and add_generation_prompt is False unless given; the arguments apply_chat_template keeps
    /// for itself (tokenize, return_dict, ...) do not reach the template, and continue_final_message
    /// cuts the render right after the final message's text.
    /// </summary>
    public string Render(JsonNode kwargs)
    {
        if (kwargs is not JsonObject obj) throw new ArgumentException("chat template kwargs must be a JSON object", nameof(kwargs));
        var context = new JsonObject();
        foreach (var name in new[] { "tools", "documents" }) context[name] = null;
        context["add_generation_prompt"] = false;
        foreach (var (k, v) in obj)
            if (!ApplyChatTemplateOwnArguments.Contains(k)) context[k] = v?.DeepClone();
        bool continueFinal = obj["continue_final_message"] is JsonValue c && c.GetValueKind() == JsonValueKind.True;
        if (continueFinal && context["add_generation_prompt"] is JsonValue g && g.GetValueKind() == JsonValueKind.True)
            throw new InvalidOperationException("continue_final_message and add_generation_prompt are not compatible");

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) WriteTagged(w, context);
        string input = Encoding.UTF8.GetString(buffer.ToArray());
        string? known = null;
        if (!_memoise || !Renders.TryGetValue((Source, input), out known))
        {
            known = ChatTemplateEngine.Render(_parsed, input);
            if (_memoise)
            {
                if (Interlocked.Read(ref _renderedChars) > MaxRenderedChars) { Renders.Clear(); Interlocked.Exchange(ref _renderedChars, 0); }
                if (Renders.TryAdd((Source, input), known)) Interlocked.Add(ref _renderedChars, input.Length + known.Length);
            }
        }
        string rendered = known!;
        return continueFinal ? CutAfterFinalMessage(rendered, context["messages"]) : rendered;
    }

    // apply_chat_template's own parameters (transformers' tokenizer signature), never template variables.
    private static readonly HashSet<string> ApplyChatTemplateOwnArguments =
    [
        "continue_final_message", "chat_template", "tokenize", "padding", "truncation", "max_length",
        "return_tensors", "return_dict", "return_assistant_tokens_mask", "tokenizer_kwargs",
    ];

    // transformers' continue_final_message: the final message's text (a list content's last text
    // block) must appear in the render; everything after its last occurrence is dropped, keeping
    // the message's own trailing whitespace only if the template kept it.
    private static string CutAfterFinalMessage(string rendered, JsonNode? messages)
    {
        var content = messages is JsonArray { Count: > 0 } list ? list[^1]?["content"] : null;
        string? final = content switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonArray blocks => blocks.Reverse().Select(b => b?["text"]).OfType<JsonValue>().FirstOrDefault()?.GetValue<string>()
                ?? throw new InvalidOperationException("continue_final_message is set but we could not find any text to continue in the final message!"),
            _ => throw new InvalidOperationException("continue_final_message is set but the final message has no content"),
        };
        string stripped = final.Trim(PythonWhitespace);
        int at = rendered.LastIndexOf(stripped, StringComparison.Ordinal);
        if (at < 0) throw new InvalidOperationException("continue_final_message is set but the final message does not appear in the chat after applying the chat template!");
        string keptLeft = final.TrimStart(PythonWhitespace);
        string slice = rendered.Substring(at, Math.Min(keptLeft.Length, rendered.Length - at));
        return slice == final ? rendered[..(at + Math.Min(keptLeft.Length, rendered.Length - at))] : rendered[..(at + stripped.Length)];
    }

    // str.strip()'s whitespace (str.isspace), as used by transformers on the final message.
    private static readonly char[] PythonWhitespace =
        "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000".ToCharArray();

    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt, IDictionary<string, object?>? extra = null)
    {
        var kwargs = new JsonObject
        {
            ["messages"] = new JsonArray(messages.Select(m => (JsonNode)m.ToJson()).ToArray()),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, object?>())
            kwargs[k] = v switch
            {
                JsonNode node => node.DeepClone(),
                // Kept as CLR floats so the template sees Python floats (1.0 prints "1.0").
                double d => JsonValue.Create(d),
                float f => JsonValue.Create(f),
                decimal m => JsonValue.Create(m),
                _ => JsonSerializer.SerializeToNode(v),
            };
        return Render(kwargs);
    }

    // The context goes to JavaScript as tagged JSON (see ChatTemplatePolyfill) so that Python's
    // int/float distinction and key order survive: a number is a float when its JSON text has a
    // fraction or exponent (json.loads' rule), or when it came from a CLR floating-point value.
    private static void WriteTagged(Utf8JsonWriter w, JsonNode? node)
    {
        w.WriteStartArray();
        switch (node)
        {
            case null:
                w.WriteStringValue("n");
                break;
            case JsonObject o:
                w.WriteStringValue("o");
                w.WriteStartArray();
                foreach (var (k, v) in o) { w.WriteStartArray(); w.WriteStringValue(k); WriteTagged(w, v); w.WriteEndArray(); }
                w.WriteEndArray();
                break;
            case JsonArray a:
                w.WriteStringValue("a");
                w.WriteStartArray();
                foreach (var item in a) WriteTagged(w, item);
                w.WriteEndArray();
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String: w.WriteStringValue("s"); w.WriteStringValue(v.GetValue<string>()); break;
                    case JsonValueKind.True or JsonValueKind.False: w.WriteStringValue("b"); w.WriteBooleanValue(v.GetValueKind() == JsonValueKind.True); break;
                    case JsonValueKind.Null: w.WriteStringValue("n"); break;
                    case JsonValueKind.Number:
                        string raw = v.ToJsonString();
                        bool isFloat = v.TryGetValue<JsonElement>(out _)
                            ? raw.IndexOfAny(['.', 'e', 'E']) >= 0
                            : v.TryGetValue<double>(out _) || v.TryGetValue<float>(out _) || v.TryGetValue<decimal>(out _);
                        // Python ints are exact at any size; beyond 2^53 the digits travel as text.
                        if (!isFloat && !(long.TryParse(raw, out long n) && n >= -(1L << 53) && n <= 1L << 53)) { w.WriteStringValue("I"); w.WriteStringValue(raw); break; }
                        w.WriteStringValue(isFloat ? "f" : "i");
                        w.WriteRawValue(raw);
                        break;
                    default: throw new ArgumentException($"cannot pass {v.GetValueKind()} to a chat template");
                }
                break;
        }
        w.WriteEndArray();
    }
}
