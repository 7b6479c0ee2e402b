using System.Buffers.Binary;

namespace SmVL.Processing;

/// <summary>
/// EXIF orientation, as transformers' <c>load_image</c> applies it (PIL <c>ImageOps.exif_transpose</c>):
/// a phone photo stored sideways with orientation 6 is turned upright before processing. Only
/// images loaded from files get it; images decoded from dataset bytes (The Cauldron via
/// <c>datasets</c>) are used as stored, as the reference training did.
/// </summary>
public static class ImageOrientation
{
    /// <summary>
    /// The orientation tag (1–8) of an image file's EXIF block, or null when there is none or it is
    /// unreadable. PIL finds EXIF in a JPEG's APP1 segment, a PNG's eXIf chunk and a WebP's EXIF chunk.
    /// </summary>
    public static int? Read(byte[] file)
    {
        if (file.Length >= 4 && file[0] == 0xFF && file[1] == 0xD8) return ReadJpeg(file);
        if (file.Length >= 8 && file.AsSpan(0, 8).SequenceEqual((byte[])[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            return ChunkPayload(file, 8, bigEndian: true, "eXIf"u8) is { } png ? FromTiff(png) : null;
        if (file.Length >= 12 && file.AsSpan(0, 4).SequenceEqual("RIFF"u8) && file.AsSpan(8, 4).SequenceEqual("WEBP"u8))
            return ChunkPayload(file, 12, bigEndian: false, "EXIF"u8) is { } webp ? FromTiff(webp.AsSpan().StartsWith("Exif\0\0"u8) ? webp[6..] : webp) : null;
        return null;
    }

    private static int? ReadJpeg(byte[] jpeg)
    {
        int p = 2;
        while (p + 4 <= jpeg.Length && jpeg[p] == 0xFF)
        {
            byte marker = jpeg[p + 1];
            if (marker == 0xDA || marker == 0xD9) return null;            // image data begins: no EXIF before it
            int length = (jpeg[p + 2] << 8) | jpeg[p + 3];
            if (length < 2 || p + 2 + length > jpeg.Length) return null;
            if (marker == 0xE1 && length >= 8 && jpeg.AsSpan(p + 4, 6).SequenceEqual("Exif\0\0"u8))
                return FromTiff(jpeg[(p + 10)..(p + 2 + length)]);
            p += 2 + length;
        }
        return null;
    }

    // PNG chunks (4-byte big-endian length, type, data, CRC) and RIFF chunks (type, 4-byte
    // little-endian length, data padded to even): the data of the first chunk of type <paramref name="type"/>.
    private static byte[]? ChunkPayload(byte[] file, int p, bool bigEndian, ReadOnlySpan<byte> type)
    {
        while (p + 8 <= file.Length)
        {
            long length = bigEndian
                ? ((long)file[p] << 24) | ((long)file[p + 1] << 16) | ((long)file[p + 2] << 8) | file[p + 3]
                : file[p + 4] | ((long)file[p + 5] << 8) | ((long)file[p + 6] << 16) | ((long)file[p + 7] << 24);
            var chunkType = bigEndian ? file.AsSpan(p + 4, 4) : file.AsSpan(p, 4);
            if (p + 8 + length > file.Length) return null;
            if (chunkType.SequenceEqual(type)) return file[(p + 8)..(int)(p + 8 + length)];
            p += 8 + (int)length + (bigEndian ? 4 : (int)(length & 1));
        }
        return null;
    }

    private static int? FromTiff(byte[] tiff)
    {
        if (tiff.Length < 8) return null;
        bool little = tiff[0] == (byte)'I' && tiff[1] == (byte)'I';
        if (!little && !(tiff[0] == (byte)'M' && tiff[1] == (byte)'M')) return null;
        int U16(int at) => at + 2 > tiff.Length ? -1
            : little ? BinaryPrimitives.ReadUInt16LittleEndian(tiff.AsSpan(at)) : BinaryPrimitives.ReadUInt16BigEndian(tiff.AsSpan(at));
        long U32(int at) => at + 4 > tiff.Length ? -1
            : little ? BinaryPrimitives.ReadUInt32LittleEndian(tiff.AsSpan(at)) : BinaryPrimitives.ReadUInt32BigEndian(tiff.AsSpan(at));
        long ifd = U32(4);
        if (ifd < 8 || ifd + 2 > tiff.Length) return null;
        int entries = U16((int)ifd);
        for (int i = 0; i < entries; i++)
        {
            int e = (int)ifd + 2 + 12 * i;
            if (e + 12 > tiff.Length) return null;
            if (U16(e) == 0x0112 && U16(e + 2) == 3)                          // Orientation, SHORT
                return U16(e + 8) is >= 1 and <= 8 and var o ? o : null;
        }
        return null;
    }

    /// <summary>The image turned upright for an orientation value (1 or null: unchanged).</summary>
    public static DecodedImage Apply(DecodedImage image, int? orientation)
    {
        if (orientation is null or 1) return image;
        int w = image.Width, h = image.Height, c = image.Channels;
        bool swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        var output = new byte[image.Pixels.Length];
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
            {
                // Source pixel of output (x, y), for PIL's FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM,
                // TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90 (orientations 2–8).
                var (sx, sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                Array.Copy(image.Pixels, (sy * w + sx) * c, output, (y * ow + x) * c, c);
            }
        return image with { Width = ow, Height = oh, Pixels = output };
    }
}
