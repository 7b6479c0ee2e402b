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

    /// <summary>PIL rgbA2rgba: v*a/255 rounded with MULDIV255.</summary>
    private static byte[] Premultiply(byte[] rgba)
    {
        var dst = new byte[rgba.Length];
        for (int i = 0; i < rgba.Length; i += 4)
        {
            int a = rgba[i + 3];
            for (int c = 0; c < 3; c++)
            {
                int t = rgba[i + c] * a + 128;
                dst[i + c] = (byte)(((t >> 8) + t) >> 8);
            }
            dst[i + 3] = (byte)a;
        }
        return dst;
    }

    /// <summary>PIL rgba2rgbA: 255*v/a truncated and clipped; alpha 0 and 255 left alone.</summary>
    private static void Unpremultiply(byte[] rgba)
    {
        for (int i = 0; i < rgba.Length; i += 4)
        {
            int a = rgba[i + 3];
            if (a is 0 or 255) continue;
            for (int c = 0; c < 3; c++) rgba[i + c] = (byte)Math.Min(255, 255 * rgba[i + c] / a);
        }
    }
}
