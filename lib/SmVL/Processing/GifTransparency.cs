namespace SmVL.Processing;

/// <summary>
/// PIL opens a GIF as mode "P" and transformers applies the RGB palette, so a pixel of the
/// transparent index shows that index's palette colour. StbImageSharp instead leaves such pixels
/// out (alpha 0, colour of the empty canvas). This reads the first frame's transparent index and
/// colour table (local, else global) and puts the colour back.
/// </summary>
internal static class GifTransparency
{
    /// <summary>Recolour the alpha-0 pixels of stb's RGBA decode of the GIF <paramref name="gif"/>.</summary>
    public static void RestoreColours(byte[] gif, byte[] rgba)
    {
        if (FirstFrameTransparentColour(gif) is not { } colour) return;
        for (int i = 0; i + 3 < rgba.Length; i += 4)
        {
            if (rgba[i + 3] != 0) continue;
            rgba[i] = colour.R; rgba[i + 1] = colour.G; rgba[i + 2] = colour.B;
        }
    }

    private static (byte R, byte G, byte B)? FirstFrameTransparentColour(byte[] b)
    {
        if (b.Length < 13) return null;
        int pos = 13, globalTable = -1, globalSize = 0, transparent = -1;
        if ((b[10] & 0x80) != 0) { globalTable = pos; globalSize = 1 << ((b[10] & 7) + 1); pos += 3 * globalSize; }
        while (pos < b.Length)
        {
            switch (b[pos])
            {
                case 0x21 when pos + 1 < b.Length: // extension: a graphic control extension carries the transparent index
                    if (b[pos + 1] == 0xF9 && pos + 6 < b.Length && (b[pos + 3] & 1) != 0) transparent = b[pos + 6];
                    pos += 2;
                    while (pos < b.Length && b[pos] != 0) pos += b[pos] + 1; // sub-blocks
                    pos++;
                    break;
                case 0x2C when pos + 9 < b.Length: // the first image descriptor
                    if (transparent < 0) return null;
                    int table = globalTable, size = globalSize;
                    if ((b[pos + 9] & 0x80) != 0) { table = pos + 10; size = 1 << ((b[pos + 9] & 7) + 1); }
                    if (table < 0 || transparent >= size || table + 3 * transparent + 2 >= b.Length) return null;
                    int at = table + 3 * transparent;
                    return (b[at], b[at + 1], b[at + 2]);
                default:
                    return null;
            }
        }
        return null;
    }
}
