using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SmVL.Processing;

/// <summary>
/// PIL's <c>Image.resize(size, Image.LANCZOS)</c> for 8-bit interleaved pixels (1–4 channels),
/// bit-exact with Pillow's Resample.c: a horizontal pass into a uint8 intermediate, then a vertical
/// pass; each pass is skipped when that axis keeps its size; 22-bit fixed-point weights; the
/// accumulator starts at one half and the result is clipped to 0..255. No box, no reducing_gap
/// (Image.resize's defaults). Premultiplying alpha is the caller's business, as in PIL.
/// RGB is widened to 4 bytes per pixel inside (as PIL stores it) so one SIMD path serves RGB and RGBA.
/// </summary>
public static class LanczosResampler
{
    private const int Half = 1 << (LanczosCoefficients.PrecisionBits - 1);

    public static byte[] Resize(byte[] src, int width, int height, int channels, int outWidth, int outHeight) =>
        Resize(src, width, height, channels, outWidth, outHeight, Avx2.IsSupported);

    /// <summary><paramref name="simd"/> false forces the scalar loops (tests compare both).</summary>
    internal static byte[] Resize(byte[] src, int width, int height, int channels, int outWidth, int outHeight, bool simd)
    {
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), $"1 to 4 channels, got {channels}");
        if (src.Length != width * height * channels)
            throw new ArgumentException($"pixel buffer holds {src.Length} bytes, expected {width}x{height}x{channels}", nameof(src));
        if (outWidth <= 0 || outHeight <= 0) throw new ArgumentOutOfRangeException(nameof(outWidth), $"output size {outWidth}x{outHeight} must be positive");
        if (outWidth == width && outHeight == height) return (byte[])src.Clone();
        simd &= Avx2.IsSupported;
        if (channels != 3) return ResizeInterleaved(src, width, height, channels, outWidth, outHeight, simd);
        var wide = ResizeInterleaved(Widen3To4(src), width, height, 4, outWidth, outHeight, simd);
        return Narrow4To3(wide);
    }

    private static byte[] ResizeInterleaved(byte[] src, int width, int height, int channels, int outWidth, int outHeight, bool simd)
    {
        var vertical = new LanczosCoefficients(height, outHeight);
        bool needH = outWidth != width, needV = outHeight != height;
        byte[] rows = src;
        int firstRow = 0;
        if (needH)
        {
            // As PIL: only the source rows the vertical pass will read get a horizontal pass.
            firstRow = needV ? vertical.Start[0] : 0;
            int lastRow = needV ? vertical.Start[outHeight - 1] + vertical.Count[outHeight - 1] : height;
            int rowCount = lastRow - firstRow;
            rows = new byte[outWidth * rowCount * channels];
            var co = new LanczosCoefficients(width, outWidth);
            if (simd && channels == 4) Horizontal4Simd(src, width, firstRow, rowCount, co, rows, outWidth);
            else HorizontalScalar(src, width, channels, firstRow, rowCount, co, rows, outWidth);
        }
        if (!needV) return rows;
        var dst = new byte[outWidth * outHeight * channels];
        if (simd) VerticalSimd(rows, outWidth * channels, firstRow, vertical, dst, outHeight);
        else VerticalScalar(rows, outWidth * channels, firstRow, vertical, dst, outHeight);
        return dst;
    }

    private static unsafe void HorizontalScalar(byte[] src, int width, int channels, int firstRow, int rowCount,
                                                LanczosCoefficients co, byte[] dst, int outWidth)
    {
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* k0 = co.Kernel)
        {
            for (int y = 0; y < rowCount; y++)
            {
                byte* srow = s0 + (long)(y + firstRow) * width * channels;
                byte* drow = d0 + (long)y * outWidth * channels;
                for (int xx = 0; xx < outWidth; xx++)
                {
                    int* k = k0 + xx * co.KSize;
                    byte* p = srow + co.Start[xx] * channels;
                    int n = co.Count[xx];
                    for (int ch = 0; ch < channels; ch++)
                    {
                        int a = Half;
                        for (int t = 0; t < n; t++) a += p[t * channels + ch] * k[t];
                        drow[xx * channels + ch] = Clip8(a);
                    }
                }
            }
        }
    }

    /// <summary>One output pixel's four channels in one 128-bit accumulator.</summary>
    private static unsafe void Horizontal4Simd(byte[] src, int width, int firstRow, int rowCount,
                                               LanczosCoefficients co, byte[] dst, int outWidth)
    {
        var half = Vector128.Create(Half);
        var max = Vector128.Create(255);
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* k0 = co.Kernel)
        {
            for (int y = 0; y < rowCount; y++)
            {
                byte* srow = s0 + (long)(y + firstRow) * width * 4;
                uint* drow = (uint*)(d0 + (long)y * outWidth * 4);
                for (int xx = 0; xx < outWidth; xx++)
                {
                    int* k = k0 + xx * co.KSize;
                    byte* p = srow + co.Start[xx] * 4;
                    int n = co.Count[xx];
                    var acc = half;
                    for (int t = 0; t < n; t++)
                        acc = Sse2.Add(acc, Sse41.MultiplyLow(Sse41.ConvertToVector128Int32(p + t * 4), Vector128.Create(k[t])));
                    acc = Sse41.Min(Sse41.Max(Sse2.ShiftRightArithmetic(acc, LanczosCoefficients.PrecisionBits), Vector128<int>.Zero), max);
                    var bytes = Sse2.PackUnsignedSaturate(Sse2.PackSignedSaturate(acc, acc), Vector128<short>.Zero);
                    drow[xx] = bytes.AsUInt32().ToScalar();
                }
            }
        }
    }

    private static unsafe void VerticalScalar(byte[] src, int rowBytes, int firstRow, LanczosCoefficients co, byte[] dst, int outHeight)
    {
        var acc = new int[rowBytes];
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* a = acc, k0 = co.Kernel)
        {
            for (int yy = 0; yy < outHeight; yy++)
            {
                new Span<int>(a, rowBytes).Fill(Half);
                int* k = k0 + yy * co.KSize;
                int y0 = co.Start[yy] - firstRow;
                for (int t = 0; t < co.Count[yy]; t++)
                {
                    int w = k[t];
                    byte* srow = s0 + (long)(y0 + t) * rowBytes;
                    for (int i = 0; i < rowBytes; i++) a[i] += srow[i] * w;
                }
                byte* drow = d0 + (long)yy * rowBytes;
                for (int i = 0; i < rowBytes; i++) drow[i] = Clip8(a[i]);
            }
        }
    }

    /// <summary>32 bytes of an output row at a time, accumulators kept in registers across the taps.</summary>
    private static unsafe void VerticalSimd(byte[] src, int rowBytes, int firstRow, LanczosCoefficients co, byte[] dst, int outHeight)
    {
        var half = Vector256.Create(Half);
        var max = Vector256.Create(255);
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* k0 = co.Kernel)
        {
            for (int yy = 0; yy < outHeight; yy++)
            {
                int* k = k0 + yy * co.KSize;
                int n = co.Count[yy];
                byte* top = s0 + (long)(co.Start[yy] - firstRow) * rowBytes;
                byte* drow = d0 + (long)yy * rowBytes;
                int i = 0;
                for (; i + 32 <= rowBytes; i += 32)
                {
                    Vector256<int> a0 = half, a1 = half, a2 = half, a3 = half;
                    byte* p = top + i;
                    for (int t = 0; t < n; t++, p += rowBytes)
                    {
                        var w = Vector256.Create(k[t]);
                        a0 = Avx2.Add(a0, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p), w));
                        a1 = Avx2.Add(a1, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 8), w));
                        a2 = Avx2.Add(a2, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 16), w));
                        a3 = Avx2.Add(a3, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 24), w));
                    }
                    var lo = Vector256.Narrow(ClipVec(a0, max), ClipVec(a1, max));
                    var hi = Vector256.Narrow(ClipVec(a2, max), ClipVec(a3, max));
                    Vector256.Narrow(lo.AsUInt16(), hi.AsUInt16()).Store(drow + i);
                }
                for (; i < rowBytes; i++)
                {
                    int a = Half;
                    byte* p = top + i;
                    for (int t = 0; t < n; t++, p += rowBytes) a += *p * k[t];
                    drow[i] = Clip8(a);
                }
            }
        }
    }

    private static Vector256<int> ClipVec(Vector256<int> acc, Vector256<int> max) =>
        Avx2.Min(Avx2.Max(Avx2.ShiftRightArithmetic(acc, LanczosCoefficients.PrecisionBits), Vector256<int>.Zero), max);

    /// <summary>PIL's clip8: drop the fixed-point fraction (arithmetic shift), clamp to a byte.</summary>
    private static byte Clip8(int v)
    {
        int x = v >> LanczosCoefficients.PrecisionBits;
        return (byte)(x < 0 ? 0 : x > 255 ? 255 : x);
    }

    private static byte[] Widen3To4(byte[] rgb)
    {
        var rgbx = new byte[rgb.Length / 3 * 4];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4) { rgbx[j] = rgb[i]; rgbx[j + 1] = rgb[i + 1]; rgbx[j + 2] = rgb[i + 2]; }
        return rgbx;
    }

    private static byte[] Narrow4To3(byte[] rgbx)
    {
        var rgb = new byte[rgbx.Length / 4 * 3];
        for (int i = 0, j = 0; j < rgbx.Length; i += 3, j += 4) { rgb[i] = rgbx[j]; rgb[i + 1] = rgbx[j + 1]; rgb[i + 2] = rgbx[j + 2]; }
        return rgb;
    }
}
