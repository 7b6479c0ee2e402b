using System.Globalization;
using System.Text;
using JiebaNet.Segmenter;

namespace SmVL.Evaluation;

/// <summary>
/// Tokens for ROUGE on mixed Chinese/Latin text. <see cref="Segment"/> is what LLaMA-Factory does:
/// `jieba.cut` (accurate mode, HMM for unknown words; jieba.NET with Python jieba 0.42's dictionary),
/// then rouge-chinese splits the space-joined words on whitespace, so whitespace pieces vanish.
/// <see cref="Characters"/> is the dictionary-free stand-in: each CJK character a token, a run of
/// letters/digits a word, any other visible character a token of its own.
/// </summary>
public static class ChineseSegmenter
{
    // jieba.NET reads its files from one configured folder (copied beside SmVL.dll by the build) and
    // keeps its dictionary in statics; its segmenter is not documented as thread-safe, so calls are serialised.
    private static readonly Lazy<JiebaSegmenter> Jieba = new(() =>
    {
        string dir = Path.Combine(Path.GetDirectoryName(typeof(ChineseSegmenter).Assembly.Location) ?? AppContext.BaseDirectory, "jieba");
        if (!File.Exists(Path.Combine(dir, "dict.txt")))
            throw new FileNotFoundException($"jieba's dictionary is missing: {Path.Combine(dir, "dict.txt")} (the build copies it from the jieba.NET package)");
        ConfigManager.ConfigFileBaseDir = dir;
        return new JiebaSegmenter();
    });
    private static readonly object Gate = new();

    // Python's str.split() whitespace (str.isspace).
    private static readonly char[] PythonWhitespace =
        "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000".ToCharArray();

    public static IReadOnlyList<string> Segment(string text)
    {
        List<string> words;
        lock (Gate) words = Jieba.Value.Cut(text, cutAll: false, hmm: true).ToList();
        // jieba.NET yields a character outside the BMP (an emoji) as its two UTF-16 halves; Python jieba as one.
        var joined = new List<string>(words.Count);
        foreach (var w in words)
            if (joined.Count > 0 && joined[^1].Length > 0 && char.IsHighSurrogate(joined[^1][^1]) && w.Length > 0 && char.IsLowSurrogate(w[0]))
                joined[^1] += w;
            else joined.Add(w);
        return joined.SelectMany(w => w.Split(PythonWhitespace, StringSplitOptions.RemoveEmptyEntries)).ToList();
    }

    public static IReadOnlyList<string> Characters(string text)
    {
        var tokens = new List<string>();
        var word = new StringBuilder();
        void EndWord() { if (word.Length > 0) { tokens.Add(word.ToString()); word.Clear(); } }
        foreach (var rune in text.EnumerateRunes())
        {
            if (Rune.IsWhiteSpace(rune)) EndWord();
            else if (IsCjk(rune.Value)) { EndWord(); tokens.Add(rune.ToString()); }
            else if (Rune.IsLetterOrDigit(rune) || (word.Length > 0 && IsMark(rune))) word.Append(rune.ToString());
            else { EndWord(); tokens.Add(rune.ToString()); }
        }
        EndWord();
        return tokens;
    }

    private static bool IsMark(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark;

    private static bool IsCjk(int c) =>
        c is >= 0x3040 and <= 0x30FF        // hiragana, katakana
          or >= 0x3400 and <= 0x4DBF        // CJK extension A
          or >= 0x4E00 and <= 0x9FFF        // CJK unified ideographs
          or >= 0xAC00 and <= 0xD7AF        // Hangul syllables
          or >= 0xF900 and <= 0xFAFF        // CJK compatibility ideographs
          or >= 0x20000 and <= 0x3134F;     // CJK extensions B–G
}
