using System.Globalization;
using System.Text;

namespace SmVL.Evaluation;

/// <summary>
/// Tokens for ROUGE on mixed Chinese/Latin text. LLaMA-Factory segments with jieba, which is not
/// served here (neither a NuGet port nor its dictionary), so this is the usual character-level
/// stand-in: each CJK character (Han, kana, Hangul) is a token, a run of letters/digits is a word,
/// any other visible character (punctuation, emoji) is a token of its own, whitespace separates.
/// Scores are therefore close to, not equal to, jieba-segmented ones.
/// </summary>
public static class ChineseSegmenter
{
    public static IReadOnlyList<string> Segment(string text)
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
