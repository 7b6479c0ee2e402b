using System.Text;

namespace SmVL.Processing;

/// <summary>
/// Incremental decoding for streaming generation (like HF's TextStreamer): feed ids one by one and
/// get back only text whose UTF-8 bytes are complete. A character split across tokens (byte-level
/// BPE often splits CJK or emoji into pieces) is held until its last byte arrives, so nothing
/// printed ever has to be taken back; the concatenation of all chunks equals
/// <see cref="Tokenizer.Decode"/> of all ids.
/// </summary>
public sealed class TokenizerStreamDecoder(Tokenizer tokenizer, bool skipSpecialTokens = false)
{
    private readonly List<byte> _pending = new();

    /// <summary>Add one id; returns the newly completed text (possibly empty).</summary>
    public string Push(int id)
    {
        if (skipSpecialTokens && tokenizer.IsSpecial(id)) return "";
        if (tokenizer.TokenBytes(id) is { } bytes) _pending.AddRange(bytes);
        int complete = CompleteLength(_pending);
        if (complete == 0) return "";
        string text = Encoding.UTF8.GetString(_pending.GetRange(0, complete).ToArray());
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Whatever is still held (an unfinished character becomes U+FFFD, as in a full decode).</summary>
    public string Flush()
    {
        string text = Encoding.UTF8.GetString(_pending.ToArray());
        _pending.Clear();
        return text;
    }

    // Length of the prefix that does not end inside a multi-byte sequence which may still be
    // completed by later bytes. Bytes that can never become valid are released (and decode to U+FFFD).
    private static int CompleteLength(List<byte> b)
    {
        int n = b.Count;
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte lead = b[n - back];
            if ((lead & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
            int need = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 1;
            return back < need && lead < 0xF5 ? n - back : n;
        }
        return n;
    }
}
