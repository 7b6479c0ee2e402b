namespace SmVL.Processing;

/// <summary>
/// PIL's per-axis resampling weights for one (input length → output length) mapping, already in
/// PIL's 22-bit fixed point. Computed once per axis, then reused for every row or column.
/// Follows Pillow's Resample.c (precompute_coeffs + normalize_coeffs_8bpc) operation by operation,
/// in double precision, so the integer kernels come out identical.
/// </summary>
internal sealed class LanczosCoefficients
{
    /// <summary>Fixed-point bits for 8-bit images (32 - 8 bits of result - 2 bits of headroom).</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Lanczos-3 support in input pixels at scale 1.</summary>
    private const double Support = 3.0;

    /// <summary>Taps per output position (stride of <see cref="Kernel"/>); unused taps are 0.</summary>
    public int KSize { get; }
    /// <summary>First input index used by output position i.</summary>
    public int[] Start { get; }
    /// <summary>Number of input pixels used by output position i.</summary>
    public int[] Count { get; }
    /// <summary>Fixed-point weights, output position i at [i * KSize, i * KSize + Count[i]).</summary>
    public int[] Kernel { get; }

    public LanczosCoefficients(int inSize, int outSize)
    {
        if (inSize <= 0 || outSize <= 0) throw new ArgumentOutOfRangeException(nameof(outSize), $"resample {inSize} -> {outSize}: sizes must be positive");
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support * filterScale;
        KSize = (int)Math.Ceiling(support) * 2 + 1;
        Start = new int[outSize];
        Count = new int[outSize];
        Kernel = new int[outSize * KSize];
        var weights = new double[KSize];
        double ss = 1.0 / filterScale;
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            // PIL rounds the window ends with (int)(v + 0.5), i.e. truncation toward zero, then clamps.
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            double ww = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = Filter((x + xmin - center + 0.5) * ss);
                weights[x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++)
            {
                double k = ww != 0.0 ? weights[x] / ww : weights[x];
                Kernel[xx * KSize + x] = k < 0
                    ? (int)(-0.5 + k * (1 << PrecisionBits))
                    : (int)(0.5 + k * (1 << PrecisionBits));
            }
            Start[xx] = xmin;
            Count[xx] = xmax;
        }
    }

    /// <summary>Truncated sinc windowed by sinc(x/3), zero outside [-3, 3).</summary>
    private static double Filter(double x) => -3.0 <= x && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }
}
