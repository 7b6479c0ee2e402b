namespace SmVL.Processing;

/// <summary>The PIL mode an image had when opened; it decides how SmolVLM's processor resizes it.</summary>
public enum PilMode
{
    /// <summary>"RGB": 3 bytes per pixel.</summary>
    Rgb,
    /// <summary>"RGBA" (and "LA", widened to RGBA): 4 bytes per pixel, straight (not premultiplied) alpha.</summary>
    Rgba,
    /// <summary>"L": 1 byte per pixel (also "1", whose pixels reach transformers as 0/1).</summary>
    Grey,
    /// <summary>"P": stored with the palette already applied (3 bytes per pixel); palette alpha is
    /// dropped because the processor re-applies an RGB-only palette.</summary>
    Palette,
}

/// <summary>
/// A decoded image before any conversion to RGB. The processor needs this rather than an
/// <see cref="RgbImage"/> to match transformers exactly: RGBA is resized (premultiplied) before it is
/// composited over white, and grey/palette images go through PIL as mode "P", i.e. NEAREST.
/// </summary>
public sealed record DecodedImage(int Width, int Height, PilMode Mode, byte[] Pixels)
{
    public int Channels => ChannelsOf(Mode);

    public static int ChannelsOf(PilMode mode) => mode switch
    {
        PilMode.Rgba => 4,
        PilMode.Grey => 1,
        _ => 3,
    };

    public static DecodedImage FromRgb(RgbImage image) => new(image.Width, image.Height, PilMode.Rgb, image.Pixels);

    /// <summary>Rows [y, y+h), columns [x, x+w), like numpy slicing.</summary>
    public DecodedImage Crop(int x, int y, int w, int h)
    {
        if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > Width || y + h > Height)
            throw new ArgumentOutOfRangeException(nameof(w), $"crop ({x},{y}) {w}x{h} outside a {Width}x{Height} image");
        int c = Channels;
        var dst = new byte[w * h * c];
        for (int r = 0; r < h; r++)
            Buffer.BlockCopy(Pixels, ((y + r) * Width + x) * c, dst, r * w * c, w * c);
        return new DecodedImage(w, h, Mode, dst);
    }

    /// <summary>
    /// transformers' convert_to_rgb: PIL convert("RGBA"), alpha_composite over opaque white,
    /// convert("RGB"). The rounded division below equals PIL's 7-bit fixed-point composite for all
    /// 256x256 (value, alpha) pairs (checked against PIL in ImageCodecTests).
    /// </summary>
    public RgbImage ToRgb()
    {
        int n = Width * Height;
        var rgb = new byte[n * 3];
        switch (Mode)
        {
            case PilMode.Rgb or PilMode.Palette:
                Buffer.BlockCopy(Pixels, 0, rgb, 0, n * 3);
                break;
            case PilMode.Grey:
                for (int i = 0; i < n; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = Pixels[i];
                break;
            case PilMode.Rgba:
                for (int i = 0; i < n; i++)
                {
                    int a = Pixels[i * 4 + 3];
                    for (int c = 0; c < 3; c++)
                        rgb[i * 3 + c] = (byte)((Pixels[i * 4 + c] * a + 255 * (255 - a) + 127) / 255);
                }
                break;
        }
        return new RgbImage(Width, Height, rgb);
    }
}
