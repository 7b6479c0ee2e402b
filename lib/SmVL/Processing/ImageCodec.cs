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
/// The one seam for image decoding and encoding. StbImageSharp/StbImageWriteSharp here because
/// SixLabors.ImageSharp is not served on our platform; swap this file to use ImageSharp elsewhere.
/// Decoding follows PIL's convert("RGB") for the cases the processor meets: alpha is composited
/// over white (SmolVLM's processor does that before convert), grey is replicated to RGB.
/// </summary>
public static class ImageCodec
{
    public static RgbImage Decode(byte[] bytes, string source)
    {
        if (bytes is null || bytes.Length == 0) throw new ImageDecodeException(source, "no bytes");
        ImageResult img;
        try { img = ImageResult.FromMemory(bytes, StbImageSharp.ColorComponents.RedGreenBlueAlpha); }
        catch (Exception e) { throw new ImageDecodeException(source, e.Message); }
        if (img is null || img.Data is null || img.Width <= 0 || img.Height <= 0)
            throw new ImageDecodeException(source, "unsupported or corrupt image data");
        var rgb = new byte[img.Width * img.Height * 3];
        bool hasAlpha = img.SourceComp is StbImageSharp.ColorComponents.RedGreenBlueAlpha or StbImageSharp.ColorComponents.GreyAlpha;
        for (int i = 0, n = img.Width * img.Height; i < n; i++)
        {
            int a = img.Data[i * 4 + 3];
            for (int c = 0; c < 3; c++)
            {
                int v = img.Data[i * 4 + c];
                // PIL alpha_composite over white, rounded as PIL does: (v*a + 255*(255-a)) / 255
                rgb[i * 3 + c] = hasAlpha ? (byte)((v * a + 255 * (255 - a) + 127) / 255) : (byte)v;
            }
        }
        return new RgbImage(img.Width, img.Height, rgb);
    }

    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image file not found: {path}", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    public static byte[] EncodePng(RgbImage image)
    {
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(image.Pixels, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }
}
