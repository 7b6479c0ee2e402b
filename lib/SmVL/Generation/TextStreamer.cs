namespace SmVL.Generation;

/// <summary>
/// Turns tokens into text increments as they arrive. Byte-level BPE tokens can end in the middle
/// of a multi-byte UTF-8 character, so each push decodes the whole id list so far and hands out
/// only the new suffix — and nothing while the decoded text ends in U+FFFD, the replacement the
/// decoder gives an unfinished character. The pieces concatenate to the full decode.
/// </summary>
/// <param name="decode">decode of a whole id list (the tokenizer's Decode(ids, skipSpecialTokens))</param>
public sealed class TextStreamer(Func<IReadOnlyList<int>, string> decode)
{
    private readonly List<int> _ids = [];
    private int _emitted;

    /// <summary>Add a token; returns the text it completes (possibly empty).</summary>
    public string Push(long token)
    {
        _ids.Add(checked((int)token));
        var text = decode(_ids);
        return text.EndsWith('\uFFFD') ? "" : Take(text);
    }

    /// <summary>At the end of generation: whatever is still held back, replacement characters included.</summary>
    public string Flush() => Take(decode(_ids));

    private string Take(string text)
    {
        if (text.Length <= _emitted) return "";
        var piece = text[_emitted..];
        _emitted = text.Length;
        return piece;
    }
}
