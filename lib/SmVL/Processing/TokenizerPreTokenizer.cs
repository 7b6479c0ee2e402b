using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SmVL.Processing;

/// <summary>
/// The pre-tokenizer of an HF byte-level BPE file: each split regex of the file's pre-tokenizer
/// sequence isolates its matches in turn (text between matches stays a piece). Added tokens never
/// reach it: <see cref="Tokenizer.Encode"/> cuts them out of the raw text first, as HF does.
/// <para>
/// .NET regexes see UTF-16 code units, so a character outside the BMP (𝐇, 𠀀, 𝟏) is two surrogates
/// of category Cs and never matches <c>\p{L}</c> or <c>\p{N}</c>, while HF's Rust regex sees one
/// letter or digit. The regex therefore runs over a shadow copy of the text in which both halves
/// of such a pair are replaced by a BMP character of the same Unicode category, and a split that
/// would fall between the two halves is undone.
/// </para>
/// </summary>
internal sealed class TokenizerPreTokenizer : PreTokenizer
{
    private readonly IReadOnlyList<Regex> _splits;

    public TokenizerPreTokenizer(IReadOnlyList<Regex> splits) => _splits = splits;

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        var output = new List<(int Offset, int Length)>();
        if (text.Length == 0) return output;
        string shadow = Shadow(text);
        var pieces = new List<(int Offset, int Length)> { (0, text.Length) };
        foreach (var regex in _splits)
        {
            var next = new List<(int Offset, int Length)>();
            foreach (var (o, l) in pieces)
            {
                int pos = o, end = o + l;
                for (var m = regex.Match(shadow, o, l); m.Success && m.Length > 0; m = m.NextMatch())
                {
                    if (m.Index > pos) next.Add((pos, m.Index - pos));
                    next.Add((m.Index, m.Length));
                    pos = m.Index + m.Length;
                }
                if (pos < end) next.Add((pos, end - pos));
            }
            pieces = next;
        }
        foreach (var piece in pieces)
        {
            // Re-join a surrogate pair that a one-character pattern such as \p{N} cut in half.
            if (piece.Offset > 0 && char.IsSurrogatePair(text[piece.Offset - 1], text[piece.Offset]))
            {
                var last = output[^1];
                output[^1] = (last.Offset, last.Length + piece.Length);
            }
            else output.Add(piece);
        }
        return output;
    }

    private static string Shadow(string text)
    {
        char[]? copy = null;
        for (int i = 0; i + 1 < text.Length; i++)
        {
            if (!char.IsSurrogatePair(text[i], text[i + 1])) continue;
            var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]));
            if (BmpOfCategory[(int)category] is char stand)
            {
                copy ??= text.ToCharArray();
                copy[i] = copy[i + 1] = stand;
            }
            i++;
        }
        return copy is null ? text : new string(copy);
    }

    // One BMP character per general category, above Latin-1 so it is never an ASCII character a
    // pattern names literally (the stand-in for a digit must not match [0-9]).
    private static readonly char?[] BmpOfCategory = BuildStandIns();

    private static char?[] BuildStandIns()
    {
        var table = new char?[32];
        for (int c = 0x100; c <= 0xFFFF; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int k = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            table[k] ??= (char)c;
        }
        table[(int)UnicodeCategory.Surrogate] = null;
        return table;
    }
}
