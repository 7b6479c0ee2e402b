using SkiaSharp;

namespace SmVL.Processing;

/// <summary>
/// JPEG and WebP decoding through SkiaSharp's SKCodec, i.e. libjpeg-turbo and libwebp, as PIL does. Skia's defaults are
/// PIL's defaults (ISLOW integer IDCT, fancy upsampling, libjpeg-turbo's YCbCr→RGB tables), and a
/// destination without a colour space means no ICC transform (PIL ignores embedded profiles too), so
/// the pixels equal <c>Image.open(path).convert("RGB")</c> byte for byte: measured on baseline 4:4:4,
/// 4:2:0, 4:2:2, progressive, greyscale and Adobe CMYK JPEGs (ImageCodecTests). Greyscale JPEGs come
/// back as PIL's mode "L"; CMYK as RGB (Skia's inverted-CMYK conversion equals PIL's CMYK→RGB). EXIF
/// orientation is not applied, as PIL's Image.open does not apply it either. WebP comes back as RGB,
/// or RGBA (straight alpha) when the file has alpha, as PIL opens it.
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
    public static DecodedImage? TryDecodeJpeg(byte[] bytes, string source) => TryDecode(bytes, source, "JPEG");

    /// <summary>As <see cref="TryDecodeJpeg"/> for any format Skia reads (<paramref name="format"/> names it in messages).</summary>
    public static DecodedImage? TryDecode(byte[] bytes, string source, string format)
    {
        if (Unavailable) return null;
        try { return Decode(bytes, source, format); }
        catch (Exception e) when (IsNativeLoadFailure(e))
        {
            if (Interlocked.Exchange(ref _unavailable, 1) == 0)
                Console.Error.WriteLine($"warning: SkiaSharp's native library could not be loaded ({Innermost(e).Message}); " +
                                        "decoding JPEG with StbImageSharp instead (differs from PIL by a few levels); WebP cannot be read");
            return null;
        }
    }

    /// <summary>Width and height from the header alone (null when Skia cannot read it or is unavailable).</summary>
    public static (long w, long h)? Dimensions(byte[] bytes)
    {
        if (Unavailable) return null;
        try
        {
            using var codec = SKCodec.Create(new SKMemoryStream(bytes));
            return codec is null ? null : (codec.Info.Width, codec.Info.Height);
        }
        catch (Exception e) when (IsNativeLoadFailure(e)) { return null; }
    }

    /// <summary>Decode a JPEG with Skia, no fallback (tests call this directly).</summary>
    public static DecodedImage DecodeJpeg(byte[] bytes, string source) => Decode(bytes, source, "JPEG");

    private static DecodedImage Decode(byte[] bytes, string source, string format)
    {
        var stream = new SKMemoryStream(bytes);
        using var codec = SKCodec.Create(stream, out var created);
        if (codec is null)
        {
            stream.Dispose();
            throw new ImageDecodeException(source, $"unreadable {format} header: {Describe(created, format)}");
        }
        // The codec owns the stream from here on.
        var info = codec.Info;
        int w = info.Width, h = info.Height;
        if (w <= 0 || h <= 0) throw new ImageDecodeException(source, $"{format} reports a {w}x{h} image");
        bool grey = info.ColorType == SKColorType.Gray8;
        bool alpha = !grey && info.AlphaType != SKAlphaType.Opaque;
        var dst = new SKImageInfo(w, h, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, alpha ? SKAlphaType.Unpremul : SKAlphaType.Opaque, null);
        var pixels = new byte[dst.BytesSize];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = pixels) result = codec.GetPixels(dst, (IntPtr)p);
        }
        if (result != SKCodecResult.Success) throw new ImageDecodeException(source, Describe(result, format));
        if (grey) return new DecodedImage(w, h, PilMode.Grey, pixels);
        if (alpha) return new DecodedImage(w, h, PilMode.Rgba, pixels);

        var rgb = new byte[w * h * 3];
        for (int i = 0, j = 0; j < rgb.Length; i += 4, j += 3)
        {
            rgb[j] = pixels[i];
            rgb[j + 1] = pixels[i + 1];
            rgb[j + 2] = pixels[i + 2];
        }
        return new DecodedImage(w, h, PilMode.Rgb, rgb);
    }

    private static string Describe(SKCodecResult r, string format) => r switch
    {
        SKCodecResult.IncompleteInput => $"truncated {format} data",
        SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput => $"corrupt {format} data ({r})",
        SKCodecResult.Unimplemented => $"unsupported {format} variant (Unimplemented)",
        _ => $"{format} decoder failed ({r})",
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
