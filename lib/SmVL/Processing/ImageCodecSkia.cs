using SkiaSharp;

namespace SmVL.Processing;

/// <summary>
/// JPEG decoding through SkiaSharp's SKCodec, i.e. libjpeg-turbo, as PIL does. Skia's defaults are
/// PIL's defaults (ISLOW integer IDCT, fancy upsampling, libjpeg-turbo's YCbCr→RGB tables), and a
/// destination without a colour space means no ICC transform (PIL ignores embedded profiles too), so
/// the pixels equal <c>Image.open(path).convert("RGB")</c> byte for byte: measured on baseline 4:4:4,
/// 4:2:0, 4:2:2, progressive, greyscale and Adobe CMYK JPEGs (ImageCodecTests). Greyscale JPEGs come
/// back as PIL's mode "L"; CMYK as RGB (Skia's inverted-CMYK conversion equals PIL's CMYK→RGB). EXIF
/// orientation is not applied, as PIL's Image.open does not apply it either.
/// </summary>
internal static class ImageCodecSkia
{
    private static int _unavailable; // 0: untried or working; 1: the native library failed to load

    /// <summary>True once the native library failed to load; <see cref="ImageCodec"/> then uses StbImageSharp.</summary>
    public static bool Unavailable => Volatile.Read(ref _unavailable) == 1;

    /// <summary>
    /// The decoded JPEG, or null when libSkiaSharp cannot be loaded here (the first such failure
    /// prints one warning). Undecodable bytes throw <see cref="ImageDecodeException"/>.
    /// </summary>
    public static DecodedImage? TryDecodeJpeg(byte[] bytes, string source)
    {
        if (Unavailable) return null;
        try { return DecodeJpeg(bytes, source); }
        catch (Exception e) when (IsNativeLoadFailure(e))
        {
            if (Interlocked.Exchange(ref _unavailable, 1) == 0)
                Console.Error.WriteLine($"warning: SkiaSharp's native library could not be loaded ({Innermost(e).Message}); " +
                                        "decoding JPEG with StbImageSharp instead, which differs from PIL by a few levels");
            return null;
        }
    }

    /// <summary>Decode with Skia, no fallback (tests call this directly).</summary>
    public static DecodedImage DecodeJpeg(byte[] bytes, string source)
    {
        var stream = new SKMemoryStream(bytes);
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
        {
            stream.Dispose();
            throw new ImageDecodeException(source, $"unreadable JPEG header: {Describe(created)}");
        }
        // The codec owns the stream from here on.
        var info = codec.Info;
        int w = info.Width, h = info.Height;
        if (w <= 0 || h <= 0) throw new ImageDecodeException(source, $"JPEG reports a {w}x{h} image");
        bool grey = info.ColorType == SKColorType.Gray8;
        var dst = new SKImageInfo(w, h, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque, null);
        var pixels = new byte[dst.BytesSize];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = pixels) result = codec.GetPixels(dst, (IntPtr)p);
        }
        if (result != SKCodecResult.Success) throw new ImageDecodeException(source, Describe(result));
        if (grey) return new DecodedImage(w, h, PilMode.Grey, pixels);

        var rgb = new byte[w * h * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = pixels[i];
            rgb[j + 1] = pixels[i + 1];
            rgb[j + 2] = pixels[i + 2];
        }
        return new DecodedImage(w, h, PilMode.Rgb, rgb);
    }

    private static string Describe(SKCodecResult r) => r switch
    {
        SKCodecResult.IncompleteInput => "truncated JPEG data",
        SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput => $"corrupt JPEG data ({r})",
        SKCodecResult.Unimplemented => "unsupported JPEG variant (Unimplemented)",
        _ => $"JPEG decoder failed ({r})",
    };

    private static bool IsNativeLoadFailure(Exception e) =>
        Innermost(e) is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException
        || (e is TypeInitializationException && Innermost(e) is not ImageDecodeException);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is { } inner) e = inner;
        return e;
    }
}
