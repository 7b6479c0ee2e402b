using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

/// <summary>
/// The C# tokenizer against ids produced by an independent implementation (@lenml/tokenizers, a
/// fork of transformers.js; see tests/fixtures/tokenizer/make_reference.mjs) on the real Qwen3
/// tokenizer.json and on a small GPT-2/SmolLM2-style file.
/// </summary>
public class TokenizerTests
{
    internal static readonly Lazy<Tokenizer> Qwen3 = new(Tokenizer.Qwen3);
    private static readonly Lazy<Tokenizer> Gpt2Style = new(() => Tokenizer.FromFile(Fixture("gpt2_style")));

    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer", name);

    public record Case(string Text, int[] Ids, string Decoded, string DecodedSkipSpecial);

    private static List<Case> Cases(string file) =>
        JsonNode.Parse(File.ReadAllText(Fixture(file)))!["cases"]!.AsArray()
            .Select(c => new Case(c!["text"]!.GetValue<string>(), c["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray(),
                c["decoded"]!.GetValue<string>(), c["decoded_skip_special"]!.GetValue<string>())).ToList();

    // *_differential.json: the most diverse 300 of a seeded random set of 4,000 strings (every
    // Unicode block family, specials in odd places, NFC-sensitive text), made by make_differential.mjs.
    public static TheoryData<string> ReferenceFiles => new()
        { "qwen3_reference.json", "gpt2_style_reference.json", "qwen3_differential.json", "gpt2_style_differential.json" };

    private static Tokenizer For(string file) => file.StartsWith("qwen3") ? Qwen3.Value : Gpt2Style.Value;

    [Theory, MemberData(nameof(ReferenceFiles))]
    public void EncodeMatchesReferenceIds(string file)
    {
        var cases = Cases(file);
        Assert.True(cases.Count >= 40);
        var tok = For(file);
        var wrong = cases.Where(c => !tok.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{JsonSerializer.Serialize(c.Text)}: expected [{string.Join(",", c.Ids)}] got [{string.Join(",", tok.Encode(c.Text))}]").ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Theory, MemberData(nameof(ReferenceFiles))]
    public void DecodeMatchesReferenceAndRoundTrips(string file)
    {
        var tok = For(file);
        foreach (var c in Cases(file))
        {
            Assert.Equal(c.Decoded, tok.Decode(c.Ids));
            Assert.Equal(c.DecodedSkipSpecial, tok.Decode(c.Ids, skipSpecialTokens: true));
            // Round trip up to the NFC normalisation the Qwen3 file declares (applied between added
            // tokens only, hence the normalisation of both sides).
            if (file.StartsWith("qwen3"))
                Assert.Equal(c.Text.Normalize(NormalizationForm.FormC), tok.Decode(tok.Encode(c.Text)).Normalize(NormalizationForm.FormC));
            else Assert.Equal(c.Text, tok.Decode(tok.Encode(c.Text)));
        }
    }

    [Fact]
    public void StreamDecoderEmitsWholeCharactersAndAddsUpToDecode()
    {
        var tok = Qwen3.Value;
        int heldBack = 0;
        foreach (var c in Cases("qwen3_reference.json"))
        {
            foreach (bool skip in new[] { false, true })
            {
                var stream = tok.StreamDecoder(skip);
                var chunks = c.Ids.Select(stream.Push).ToList();
                chunks.Add(stream.Flush());
                Assert.Equal(tok.Decode(c.Ids, skip), string.Concat(chunks));
                foreach (var chunk in chunks)
                {
                    Assert.DoesNotContain('\uFFFD', chunk);
                    Assert.False(chunk.Length > 0 && (char.IsHighSurrogate(chunk[^1]) || char.IsLowSurrogate(chunk[0])), $"split surrogate in {JsonSerializer.Serialize(chunk)}");
                }
                heldBack += chunks.Count(ch => ch.Length == 0);
            }
        }
        Assert.True(heldBack > 0, "the set should contain characters split across tokens (CJK/emoji pieces)");
    }

    [Fact]
    public void StreamDecoderHoldsAPartialCharacter()
    {
        var tok = Qwen3.Value;
        // "𝟏" (U+1D7CF) is split by byte-level BPE into pieces that are not valid UTF-8 on their own.
        var ids = tok.Encode("𝟏");
        Assert.True(ids.Count > 1);
        var stream = tok.StreamDecoder();
        Assert.Equal("", stream.Push(ids[0]));
        Assert.Equal("𝟏", string.Concat(ids.Skip(1).Select(stream.Push)));
        Assert.Equal("\uFFFD", tok.Decode(ids.Take(1)));
    }

    [Fact]
    public void AddedTokensAndSpecialFlagsComeFromTheFile()
    {
        var tok = Qwen3.Value;
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(SmVL.Paths.Npm("tokenizer-qwen3"), "models", "tokenizer.json")))!;
        var added = file["added_tokens"]!.AsArray();
        int baseVocab = file["model"]!["vocab"]!.AsObject().Count;
        Assert.Equal(baseVocab + added.Count, tok.VocabSize);
        Assert.Equal(151669, tok.VocabSize);
        Assert.Equal(added.Count, tok.AddedTokens.Count);
        foreach (var t in added)
        {
            int id = t!["id"]!.GetValue<int>();
            string content = t["content"]!.GetValue<string>();
            Assert.Equal(id, tok.TokenToId(content));
            Assert.Equal(content, tok.IdToToken(id));
            Assert.Equal(t["special"]!.GetValue<bool>(), tok.IsSpecial(id));
        }
        Assert.False(tok.IsSpecial(tok.TokenToId("<think>")!.Value));
        Assert.True(tok.IsSpecial(tok.TokenToId("<|im_end|>")!.Value));
        Assert.Equal("Ġworld", tok.IdToToken(1879));
        Assert.Null(tok.IdToToken(tok.VocabSize));
        Assert.Null(tok.TokenToId("<vision_start>"));
    }

    [Fact]
    public void ConfigIsReadFromTheSameFolder()
    {
        var config = Qwen3.Value.Config!;
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(SmVL.Paths.Npm("tokenizer-qwen3"), "models", "tokenizer_config.json")))!;
        Assert.Equal("<|im_end|>", config.EosToken);
        Assert.Equal("<|endoftext|>", config.PadToken);
        Assert.Null(config.BosToken);
        Assert.Equal(file["chat_template"]!.GetValue<string>(), config.ChatTemplate);
        Assert.Contains("enable_thinking", config.ChatTemplate);
    }

    [Fact]
    public void AddTokensAppendsIdsAndIsolatesTheNewTokens()
    {
        var tok = Gpt2Style.Value;
        var before = tok.Encode("a<new_tok>b");
        var grown = tok.AddTokens(new[] { "<new_tok>", "<think>" }, special: true);
        Assert.Equal(tok.VocabSize + 1, grown.VocabSize);
        Assert.Equal(tok.TokenToId("<think>"), grown.TokenToId("<think>"));
        int id = grown.TokenToId("<new_tok>")!.Value;
        Assert.Equal(tok.VocabSize, id);
        Assert.True(grown.IsSpecial(id));
        var after = grown.Encode("a<new_tok>b");
        Assert.True(before.Count > 3);
        Assert.Equal(new[] { tok.Encode("a")[0], id, tok.Encode("b")[0] }, after);
        Assert.Equal("ab", grown.Decode(after, skipSpecialTokens: true));
    }

    [Fact]
    public void MissingFileIsNamedInTheError()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Tokenizer.FromFile("/nonexistent/dir/tokenizer.json"));
        Assert.Contains("/nonexistent/dir/tokenizer.json", e.Message);
    }
}
