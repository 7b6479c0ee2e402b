using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Processing;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl render-chat`: render a chat template with apply_chat_template's keyword arguments
/// (messages, tools, add_generation_prompt, enable_thinking, ...) and write the string exactly.
/// </summary>
public sealed class RenderChatVerb : IVerb
{
    public string Name => "render-chat";
    public string Summary => "--template FILE (.jinja, or chat_template.json/tokenizer_config.json; default: shipped Qwen3-SmVL) --input kwargs.json --out FILE";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("template", ".jinja, chat_template.json or tokenizer_config.json (default: the shipped Qwen3-SmVL template)"),
        Opt.Text("input", "apply_chat_template's keyword arguments as a JSON object", required: true),
        Opt.Text("out", "the rendered text", required: true),
    ];

    public async Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string? templatePath = args.Get("template");
        string input = args.Require("input"), output = args.Require("out");
        string templateName = templatePath ?? "the shipped Qwen3-SmVL template";
        JsonNode kwargs;
        try { kwargs = JsonNode.Parse(await File.ReadAllTextAsync(input)) as JsonObject ?? throw new JsonException("not an object"); }
        catch (JsonException e) { throw new CliException($"{input}: expected a JSON object of template kwargs ({e.Message})"); }
        catch (IOException e) { throw new CliException($"{input}: {e.Message}"); }
        string rendered;
        // A template that does not parse, or raises while rendering (raise_exception, a type error),
        // fails the verb with its message and writes nothing, as apply_chat_template raises.
        try { rendered = (templatePath is null ? ChatTemplate.Qwen3SmVL() : ChatTemplate.FromFile(templatePath)).Render(kwargs); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or IOException or InvalidDataException)
        { throw new CliException($"{templateName}: {e.Message}"); }
        await File.WriteAllTextAsync(output, rendered, new UTF8Encoding(false));
        Console.Error.WriteLine($"rendered {Encoding.UTF8.GetByteCount(rendered)} bytes -> {output}");
        return 0;
    }
}
