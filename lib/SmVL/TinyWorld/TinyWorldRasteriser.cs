using SmVL.Data;
using SmVL.Processing;

namespace SmVL.TinyWorld;

/// <summary>
/// Draws a <see cref="TinyScene"/> with anti-aliased edges: each pixel takes supersample² point
/// samples of the shape (the same as drawing at supersample× and box-filtering down) and blends the
/// shape colour over the background by the covered fraction. Only the shapes' bounding boxes are
/// sampled, so a 64-px image costs well under a millisecond.
/// </summary>
public static class TinyWorldRasteriser
{
    public static RgbImage Render(TinyScene scene, int supersample = 4)
    {
        int w = scene.Width, h = scene.Height;
        var px = new byte[w * h * 3];
        var noise = new SeededRandom((long)scene.NoiseSeed);
        int amp = scene.NoiseAmplitude;
        for (int i = 0; i < w * h; i++)
        {
            // Luminance noise (same offset on all channels) so the background never tints towards a shape colour.
            int n = amp > 0 ? noise.NextInt(2 * amp + 1) - amp : 0;
            for (int c = 0; c < 3; c++) px[i * 3 + c] = (byte)Math.Clamp(scene.Background[c] + n, 0, 255);
        }

        int samples = supersample * supersample;
        foreach (var s in scene.Shapes)
        {
            var rgb = Rgb(s.Colour);
            int x0 = Math.Max(0, (int)Math.Floor(s.Left)), x1 = Math.Min(w - 1, (int)Math.Ceiling(s.Right));
            int y0 = Math.Max(0, (int)Math.Floor(s.Top)), y1 = Math.Min(h - 1, (int)Math.Ceiling(s.Bottom));
            for (int y = y0; y <= y1; y++)
                for (int x = x0; x <= x1; x++)
                {
                    int covered = 0;
                    for (int sy = 0; sy < supersample; sy++)
                        for (int sx = 0; sx < supersample; sx++)
                            if (s.Contains(x + (sx + 0.5) / supersample, y + (sy + 0.5) / supersample)) covered++;
                    if (covered == 0) continue;
                    int o = (y * w + x) * 3;
                    for (int c = 0; c < 3; c++)
                        px[o + c] = (byte)((px[o + c] * (samples - covered) + rgb[c] * covered + samples / 2) / samples);
                }
        }
        return new RgbImage(w, h, px);
    }

    /// <summary>The palette: saturated and far from the light, near-grey backgrounds.</summary>
    public static byte[] Rgb(ShapeColour c) => c switch
    {
        ShapeColour.Red => [220, 40, 40],
        ShapeColour.Green => [30, 160, 60],
        ShapeColour.Blue => [40, 80, 220],
        ShapeColour.Yellow => [235, 195, 25],
        _ => [140, 60, 190],
    };
}
