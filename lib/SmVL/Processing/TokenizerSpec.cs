using System.Text.Json;

namespace SmVL.Processing;

/// <summary>
/// What <see cref="Tokenizer"/> needs from an HF <c>tokenizer.json</c>, read and checked: the BPE
/// vocabulary and merges (either "a b" strings or [a, b] pairs), the added tokens with their
/// special flags, the pre-tokenizer split regexes in order, and whether NFC is applied. Anything
/// this loader would silently get wrong (a non-BPE model, another normalizer, ignore_merges) is
/// refused with the file named.
/// </summary>
internal sealed record TokenizerSpec(
    string Source,
    Dictionary<string, int> Vocab,
    List<string> Merges,
    IReadOnlyList<TokenizerSpec.AddedToken> AddedTokens,
    IReadOnlyList<string> SplitPatterns,
    bool Nfc)
{
    /// <summary>An added token; a <paramref name="Normalized"/> one is matched in the normalised text, the others in the raw text.</summary>
    public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized);

    public static TokenizerSpec Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        Exception Bad(string why) => new InvalidDataException($"{path}: {why}");

        if (!root.TryGetProperty("model", out var model) || Str(model, "type") != "BPE")
            throw Bad("only BPE models are supported (model.type is " + (root.TryGetProperty("model", out var m) ? Str(m, "type") ?? "missing" : "missing") + ")");
        if (model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True)
            throw Bad("model.ignore_merges=true (Llama-3 style) is not supported by this BPE loader");
        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Str(model, affix) is { Length: > 0 } a) throw Bad($"model.{affix} '{a}' is not supported (byte-level BPE files leave it empty)");

        var vocab = new Dictionary<string, int>();
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();

        var merges = new List<string>();
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String) { merges.Add(merge.GetString()!); continue; }
            string left = merge[0].GetString()!, right = merge[1].GetString()!;
            if (left.Contains(' ') || right.Contains(' ')) throw Bad($"merge [{left}, {right}] contains a space, which the \"a b\" merge form cannot express");
            merges.Add(left + " " + right);
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var t in at.EnumerateArray())
            {
                string content = t.GetProperty("content").GetString()!;
                bool Flag(string name) => t.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
                foreach (var flag in new[] { "lstrip", "rstrip", "single_word" })
                    if (Flag(flag)) throw Bad($"added token {content}: {flag}=true is not supported");
                bool special = Flag("special");
                // HF's default for a token without the field: special tokens are matched raw, others normalised.
                bool normalized = t.TryGetProperty("normalized", out var n) ? n.ValueKind == JsonValueKind.True : !special;
                added.Add(new AddedToken(t.GetProperty("id").GetInt32(), content, special, normalized));
            }

        var splits = new List<string>();
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object) AddSplits(pre, splits, Bad);
        if (splits.Count == 0) throw Bad("no pre-tokenizer split found (expected Split with a regex, or ByteLevel with use_regex=true)");

        bool nfc = false;
        if (root.TryGetProperty("normalizer", out var norm) && norm.ValueKind == JsonValueKind.Object)
        {
            var kinds = Str(norm, "type") == "Sequence" ? norm.GetProperty("normalizers").EnumerateArray().Select(n => Str(n, "type")).ToList() : [Str(norm, "type")];
            if (kinds.Any(k => k != "NFC")) throw Bad($"normalizer {string.Join("+", kinds)} is not supported (only NFC)");
            nfc = kinds.Count > 0;
        }
        return new TokenizerSpec(path, vocab, merges, added, splits, nfc);
    }

    private static void AddSplits(JsonElement pre, List<string> splits, Func<string, Exception> bad)
    {
        switch (Str(pre, "type"))
        {
            case "Sequence":
                foreach (var p in pre.GetProperty("pretokenizers").EnumerateArray()) AddSplits(p, splits, bad);
                break;
            case "Split":
                if (Str(pre, "behavior") is { } b && b != "Isolated") throw bad($"Split behavior '{b}' is not supported (only Isolated)");
                if (pre.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True) throw bad("Split with invert=true is not supported");
                var pattern = pre.GetProperty("pattern");
                splits.Add(Str(pattern, "Regex") ?? System.Text.RegularExpressions.Regex.Escape(Str(pattern, "String") ?? throw bad("Split pattern has neither Regex nor String")));
                break;
            case "ByteLevel":
                if (pre.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True) throw bad("ByteLevel add_prefix_space=true is not supported");
                if (!pre.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False) splits.Add(Tokenizer.Gpt2Pattern);
                break;
            case "Digits":
                // HF splits on ASCII digits only (char::is_ascii_digit), one by one or in runs.
                bool single = pre.TryGetProperty("individual_digits", out var id) && id.ValueKind == JsonValueKind.True;
                splits.Add(single ? "[0-9]" : "[0-9]+");
                break;
            default:
                throw bad($"pre-tokenizer '{Str(pre, "type")}' is not supported");
        }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
