namespace SmVL.Processing;

/// <summary>
/// GPT-2's byte-to-unicode table, which byte-level BPE vocabularies are written in: each of the
/// 256 byte values is shown as one printable character (space becomes 'Ġ', newline 'Ċ'). Decoding
/// maps the characters of a token back to bytes; a token with a character outside the table (an
/// added token such as "使用") is taken as its own UTF-8 text, as HF's ByteLevel decoder does.
/// </summary>
internal static class TokenizerByteLevel
{
    private static readonly Dictionary<char, byte> CharToByte = Build();

    private static Dictionary<char, byte> Build()
    {
        var map = new Dictionary<char, byte>(256);
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[(char)(printable ? b : 256 + next++)] = (byte)b;
        }
        return map;
    }

    /// <summary>The raw bytes a vocabulary token stands for.</summary>
    public static byte[] TokenBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!CharToByte.TryGetValue(token[i], out bytes[i])) return System.Text.Encoding.UTF8.GetBytes(token);
        }
        return bytes;
    }
}
