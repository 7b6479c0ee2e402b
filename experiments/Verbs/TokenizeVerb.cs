using System.CommandLine;
using System.Text;
using System.Text.Json;
using SmVL.Processing;

namespace SmVL.Experiments.Verbs;

/// <summary>`smvl tokenize`: encode a JSON array of strings with an HF tokenizer.json.</summary>
public sealed class TokenizeVerb : IVerb
{
    public string Name => "tokenize";
    public string Summary => "--tokenizer PATH(tokenizer.json or folder; default Qwen3) --input strings.json --out ids.json";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("tokenizer", "tokenizer.json or its folder (default: the real Qwen3 tokenizer)"),
        Opt.Text("input", "a JSON array of strings", required: true),
        Opt.Text("out", "the ids, a JSON array of arrays", required: true),
    ];

    public async Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string? path = args.Get("tokenizer");
        string input = args.Require("input"), output = args.Require("out");
        Tokenizer tokenizer;
        // A missing or unsupported tokenizer file fails the verb with a message naming it.
        try { tokenizer = path is null ? Tokenizer.Qwen3() : Tokenizer.FromFile(path); }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException) { throw new CliException(e.Message); }
        string[] strings;
        try { strings = JsonSerializer.Deserialize<string[]>(await File.ReadAllTextAsync(input)) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CliException($"{input}: expected a JSON array of strings ({e.Message})"); }
        catch (IOException e) { throw new CliException($"{input}: {e.Message}"); }
        var ids = strings.Select(s => tokenizer.Encode(s)).ToList();
        await File.WriteAllTextAsync(output, JsonSerializer.Serialize(ids), new UTF8Encoding(false));
        Console.WriteLine($"{strings.Length} strings -> {ids.Sum(i => i.Count)} tokens ({tokenizer.Source}) -> {output}");
        return 0;
    }
}
