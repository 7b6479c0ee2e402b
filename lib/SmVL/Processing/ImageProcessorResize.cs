namespace SmVL.Processing;

/// <summary>
/// PIL's <c>Image.resize</c> as transformers' processor calls it, per mode: same size returns the
/// image; grey and palette images are mode "P" there, which PIL always resizes NEAREST; RGBA is
/// resized premultiplied (RGBA→RGBa, resample, RGBa→RGBA with PIL's integer rounding); RGB directly.
/// </summary>
internal static class ImageProcessorResize
{
    public static DecodedImage Resize(DecodedImage image, int width, int height, PilResample resample)
    {
        if (width == image.Width && height == image.Height) return image;
        if (resample == PilResample.Nearest || image.Mode is PilMode.Grey or PilMode.Palette)
            return image with { Width = width, Height = height, Pixels = Nearest(image, width, height) };
        if (image.Mode == PilMode.Rgba)
        {
            var premultiplied = Premultiply(image.Pixels);
            var resized = LanczosResampler.Resize(premultiplied, image.Width, image.Height, 4, width, height);
            Unpremultiply(resized);
            return image with { Width = width, Height = height, Pixels = resized };
        }
        return image with { Width = width, Height = height, Pixels = LanczosResampler.Resize(image.Pixels, image.Width, image.Height, image.Channels, width, height) };
    }

    /// <summary>
    /// PIL's NEAREST resize (ImagingScaleAffine): source position starts at half a step and is
    /// advanced by repeated addition in double precision, then truncated; kept as is so that
    /// accumulated rounding picks the same source pixels as PIL.
    /// </summary>
    private static byte[] Nearest(DecodedImage image, int width, int height)
    {
        int c = image.Channels;
        var xin = new int[width];
        double ax = (double)image.Width / width, ay = (double)image.Height / height;
        double xo = ax * 0.5;
        for (int x = 0; x < width; x++, xo += ax) xin[x] = Coord(xo);
        var dst = new byte[width * height * c];
        double yo = ay * 0.5;
        for (int y = 0; y < height; y++, yo += ay)
        {
            int yi = Coord(yo);
            if (yi < 0 || yi >= image.Height) continue; // PIL fills outside rows with zeros
            for (int x = 0; x < width; x++)
            {
                if (xin[x] < 0 || xin[x] >= image.Width) continue;
                Buffer.BlockCopy(image.Pixels, (yi * image.Width + xin[x]) * c, dst, (y * width + x) * c, c);
            }
        }
        return dst;
    }

    private static int Coord(double v) => v < 0.0 ? -1 : (int)v;

    /// <summary>PIL rgbA2rgba (MULDIV255) and rgba2rgbA (255*v/a truncated, clipped), tabulated by [alpha, value].</summary>
    private static readonly byte[] PremultiplyTable = Table((v, a) => { int t = v * a + 128; return ((t >> 8) + t) >> 8; });
    private static readonly byte[] UnpremultiplyTable = Table((v, a) => a is 0 or 255 ? v : Math.Min(255, 255 * v / a));

    private static byte[] Table(Func<int, int, int> f)
    {
        var t = new byte[256 * 256];
        for (int a = 0; a < 256; a++)
            for (int v = 0; v < 256; v++) t[a << 8 | v] = (byte)f(v, a);
        return t;
    }

    private static byte[] Premultiply(byte[] rgba)
    {
        var dst = new byte[rgba.Length];
        for (int i = 0; i < rgba.Length; i += 4)
        {
            int row = rgba[i + 3] << 8;
            dst[i] = PremultiplyTable[row | rgba[i]];
            dst[i + 1] = PremultiplyTable[row | rgba[i + 1]];
            dst[i + 2] = PremultiplyTable[row | rgba[i + 2]];
            dst[i + 3] = rgba[i + 3];
        }
        return dst;
    }

    private static void Unpremultiply(byte[] rgba)
    {
        for (int i = 0; i < rgba.Length; i += 4)
        {
            int row = rgba[i + 3] << 8;
            rgba[i] = UnpremultiplyTable[row | rgba[i]];
            rgba[i + 1] = UnpremultiplyTable[row | rgba[i + 1]];
            rgba[i + 2] = UnpremultiplyTable[row | rgba[i + 2]];
        }
    }
}
