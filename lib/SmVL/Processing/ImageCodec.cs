using StbImageSharp;
using StbImageWriteSharp;

namespace SmVL.Processing;

/// <summary>Thrown when image bytes cannot be decoded; names where the bytes came from.</summary>
public sealed class ImageDecodeException(string source, string reason)
    : Exception($"cannot decode image '{source}': {reason}")
{
    public string Source_ { get; } = source;
}

/// <summary>
/// The one seam for image decoding and encoding. JPEG and WebP go through SkiaSharp (libjpeg-turbo
/// and libwebp, as in PIL; see <see cref="ImageCodecSkia"/>), which gives PIL's pixels exactly; PNG and GIF through
/// StbImageSharp, exact for those lossless formats; PNG is written with StbImageWriteSharp.
/// (SixLabors.ImageSharp is not served on our platform.) If libSkiaSharp cannot be loaded, JPEG
/// falls back to StbImageSharp with a one-time warning: stb's IDCT and upsampling differ from
/// libjpeg-turbo by up to 3 levels (4:2:0/4:4:4) and far more on 4:2:2.
/// <see cref="DecodeRaw"/> keeps the mode PIL would report (it changes how the processor resizes);
/// <see cref="Decode"/> is that plus transformers' convert_to_rgb (alpha over white, grey replicated).
/// </summary>
public static class ImageCodec
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS): an image whose header claims more
    /// pixels is refused before anything is decoded, so a few crafted bytes never allocate gigabytes.
    /// </summary>
    public const long MaxPixels = 178_956_970;

    public static RgbImage Decode(byte[] bytes, string source) => DecodeRaw(bytes, source).ToRgb();

    public static DecodedImage DecodeRaw(byte[] bytes, string source)
    {
        if (bytes is null || bytes.Length == 0) throw new ImageDecodeException(source, "no bytes");
        CheckSize(bytes, source);
        if (IsWebP(bytes))
            return Checked(ImageCodecSkia.TryDecode(bytes, source, "WebP")
                ?? throw new ImageDecodeException(source, "WebP needs SkiaSharp's native library, which could not be loaded"), source);
        if (!IsJpeg(bytes)) return DecodeRawStb(bytes, source);
        if (ImageCodecSkia.TryDecodeJpeg(bytes, source) is { } jpeg) return Checked(jpeg, source);
        // Fallback: stb pads a truncated scan silently, PIL (and Skia) refuse it.
        if (!EndsScanWithEoi(bytes)) throw new ImageDecodeException(source, "truncated JPEG data (no EOI after the last scan)");
        return DecodeRawStb(bytes, source);
    }

    /// <summary>Refuses an image whose header claims more than <see cref="MaxPixels"/> pixels.</summary>
    private static void CheckSize(byte[] bytes, string source)
    {
        if (Dimensions(bytes) is not var (w, h)) return;   // the decoder reports the unreadable header
        if (w * h > MaxPixels)
            throw new ImageDecodeException(source, $"{w}x{h} is {w * h:N0} pixels, over the {MaxPixels:N0}-pixel limit (PIL's decompression-bomb limit)");
    }

    /// <summary>Width and height as the header claims them, read without decoding (WebP: Skia reads its header); null if unreadable.</summary>
    public static (long Width, long Height)? Dimensions(byte[] bytes)
    {
        if (IsWebP(bytes)) return ImageCodecSkia.Dimensions(bytes);
        using var stream = new MemoryStream(bytes, writable: false);
        try { return ImageInfo.FromStream(stream) is { } i ? (i.Width, i.Height) : null; }
        catch (Exception) { return null; }
    }

    /// <summary>The StbImageSharp path: PNG, GIF, BMP, ...; JPEG only when Skia is unavailable.</summary>
    internal static DecodedImage DecodeRawStb(byte[] bytes, string source)
    {
        if (bytes is null || bytes.Length == 0) throw new ImageDecodeException(source, "no bytes");
        PilMode? sniffed = SniffMode(bytes, source);
        ImageResult img;
        try
        {
            img = ImageResult.FromMemory(bytes, sniffed is { } m ? Request(m, bytes) : StbImageSharp.ColorComponents.Default);
        }
        catch (Exception e) { throw new ImageDecodeException(source, e.Message); }
        if (img is null || img.Data is null || img.Width <= 0 || img.Height <= 0)
            throw new ImageDecodeException(source, "unsupported or corrupt image data");

        if (sniffed is { } mode)
        {
            if (IsBilevelPng(bytes)) ToBilevel(img.Data);
            if (IsGif(bytes)) GifTransparency.RestoreColours(bytes, img.Data);
            return Checked(new DecodedImage(img.Width, img.Height, mode, mode == PilMode.Palette && IsGif(bytes) ? DropAlpha(img.Data) : img.Data), source);
        }
        return img.Comp switch
        {
            StbImageSharp.ColorComponents.Grey => Checked(new DecodedImage(img.Width, img.Height, PilMode.Grey, img.Data), source),
            StbImageSharp.ColorComponents.RedGreenBlue => Checked(new DecodedImage(img.Width, img.Height, PilMode.Rgb, img.Data), source),
            StbImageSharp.ColorComponents.RedGreenBlueAlpha => Checked(new DecodedImage(img.Width, img.Height, PilMode.Rgba, img.Data), source),
            var c => throw new ImageDecodeException(source, $"unsupported channel layout {c}"),
        };
    }

    /// <summary>An image file as transformers' load_image opens it: decoded, turned upright by its EXIF orientation, RGB.</summary>
    public static RgbImage Load(string path) => LoadRaw(path).ToRgb();

    /// <summary>An image file decoded and turned upright by its EXIF orientation (the mode kept).</summary>
    public static DecodedImage LoadRaw(string path) => DecodeUpright(ReadFile(path), path);

    /// <summary>Image bytes decoded and turned upright by their EXIF orientation (the mode kept); <paramref name="source"/> names them in errors.</summary>
    public static DecodedImage DecodeUpright(byte[] bytes, string source) =>
        ImageOrientation.Apply(DecodeRaw(bytes, source), ImageOrientation.Read(bytes));

    public static byte[] EncodePng(RgbImage image)
    {
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(image.Pixels, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }

    /// <summary>Baseline JPEG, as photo datasets store their images (quality 1–100).</summary>
    public static byte[] EncodeJpeg(RgbImage image, int quality = 90)
    {
        using var ms = new MemoryStream();
        new ImageWriter().WriteJpg(image.Pixels, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, ms, quality);
        return ms.ToArray();
    }

    /// <summary>SOI marker followed by the start of another marker.</summary>
    internal static bool IsJpeg(byte[] b) => b.Length > 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;

    /// <summary>
    /// An EOI marker (FF D9) after the last SOS (FF DA). Entropy-coded data stuffs FF with 00, so these
    /// byte pairs are markers; an EXIF thumbnail's own SOS/EOI come before the main image's SOS.
    /// </summary>
    internal static bool EndsScanWithEoi(byte[] b)
    {
        var span = b.AsSpan();
        int sos = span.LastIndexOf([(byte)0xFF, (byte)0xDA]), eoi = span.LastIndexOf([(byte)0xFF, (byte)0xD9]);
        return sos >= 0 && eoi > sos;
    }

    private static byte[] ReadFile(string path) =>
        File.Exists(path) ? File.ReadAllBytes(path) : throw new FileNotFoundException($"image file not found: {path}", path);

    /// <summary>
    /// The PIL mode for formats whose decoded channel count does not tell it: PNG's colour type
    /// (a tRNS chunk does not change PIL's mode for grey/RGB/palette PNGs, and transformers then
    /// ignores it), GIF (always palette) and BMP with a colour table. Null: trust the decoder's channel count.
    /// </summary>
    /// <remarks>
    /// Modes transformers' processor cannot take are refused here, naming the file, rather than
    /// turned into pixels it would never produce: grey+alpha (PIL "LA": infer_channel_dimension_format
    /// accepts 1, 3 or 4 channels) and 16-bit grey PNGs (PIL "I": to_pil_image raises for values above 255).
    /// A 1-bit grey PNG is PIL mode "1", whose pixels reach the processor as 0/1, not 0/255.
    /// </remarks>
    private static PilMode? SniffMode(byte[] b, string source)
    {
        if (IsPng(b))
        {
            // 16-bit RGB/RGBA open as 8-bit RGB/RGBA in PIL (high byte, as stb reduces them); 16-bit grey is mode I.
            if (b[24] == 16 && b[25] == 0) throw new ImageDecodeException(source, "16-bit grey PNG (PIL mode I): transformers' SmolVLM processor refuses pixel values above 255");
            return b[25] switch
            {
                0 => PilMode.Grey, 2 => PilMode.Rgb, 3 => PilMode.Palette, 6 => PilMode.Rgba,
                4 => throw new ImageDecodeException(source, "grey+alpha PNG (PIL mode LA): transformers' SmolVLM processor cannot infer the channel format of a 2-channel image"),
                _ => null,
            };
        }
        if (IsGif(b)) return PilMode.Palette;
        // BMP with a colour table (1, 4 or 8 bits per pixel): PIL opens it as P (or L/1 for a grey table).
        if (b.Length > 30 && b[0] == 'B' && b[1] == 'M' && BitConverter.ToUInt16(b, 28) <= 8) return PilMode.Palette;
        return null;
    }

    private static bool IsPng(byte[] b) => b.Length > 25 && b.AsSpan(0, 8).SequenceEqual(PngSignature) && b.AsSpan(12, 4).SequenceEqual("IHDR"u8);
    private static bool IsWebP(byte[] b) => b.Length > 12 && b.AsSpan(0, 4).SequenceEqual("RIFF"u8) && b.AsSpan(8, 4).SequenceEqual("WEBP"u8);
    private static bool IsGif(byte[] b) => b.Length > 6 && b.AsSpan(0, 4).SequenceEqual("GIF8"u8);
    private static bool IsBilevelPng(byte[] b) => IsPng(b) && b[24] == 1 && b[25] == 0;

    /// <summary>PIL mode "1" arrives in numpy as booleans: stb's 0/255 become 0/1.</summary>
    private static void ToBilevel(byte[] grey)
    {
        for (int i = 0; i < grey.Length; i++) grey[i] = grey[i] != 0 ? (byte)1 : (byte)0;
    }

    private static byte[] DropAlpha(byte[] rgba)
    {
        var rgb = new byte[rgba.Length / 4 * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
        return rgb;
    }

    private static StbImageSharp.ColorComponents Request(PilMode mode, byte[] b) => mode switch
    {
        PilMode.Grey => StbImageSharp.ColorComponents.Grey,
        // GIF is decoded with alpha so that its transparent pixels can be found and recoloured.
        PilMode.Rgba => StbImageSharp.ColorComponents.RedGreenBlueAlpha,
        PilMode.Palette when IsGif(b) => StbImageSharp.ColorComponents.RedGreenBlueAlpha,
        _ => StbImageSharp.ColorComponents.RedGreenBlue,
    };

    private static DecodedImage Checked(DecodedImage image, string source) =>
        image.Pixels.Length == image.Width * image.Height * image.Channels
            ? image
            : throw new ImageDecodeException(source, $"decoder returned {image.Pixels.Length} bytes for {image.Width}x{image.Height} {image.Mode}");
}
