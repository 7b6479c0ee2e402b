namespace SmVL.Processing;

/// <summary>
/// PIL's <c>Image.resize(size, Image.LANCZOS)</c> for 8-bit interleaved pixels (1–4 channels),
/// bit-exact with Pillow's Resample.c: a horizontal pass into a uint8 intermediate, then a vertical
/// pass; each pass is skipped when that axis keeps its size; 22-bit fixed-point weights; the
/// accumulator starts at one half and the result is clipped to 0..255. No box, no reducing_gap
/// (Image.resize's defaults). Premultiplying alpha is the caller's business, as in PIL.
/// </summary>
public static class LanczosResampler
{
    public static byte[] Resize(byte[] src, int width, int height, int channels, int outWidth, int outHeight)
    {
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), $"1 to 4 channels, got {channels}");
        if (src.Length != width * height * channels)
            throw new ArgumentException($"pixel buffer holds {src.Length} bytes, expected {width}x{height}x{channels}", nameof(src));
        if (outWidth <= 0 || outHeight <= 0) throw new ArgumentOutOfRangeException(nameof(outWidth), $"output size {outWidth}x{outHeight} must be positive");

        var vertical = new LanczosCoefficients(height, outHeight);
        bool needH = outWidth != width, needV = outHeight != height;
        if (!needH && !needV) return (byte[])src.Clone();

        byte[] rows = src;
        int firstRow = 0, rowCount = height;
        if (needH)
        {
            // As PIL: only the source rows the vertical pass will read get a horizontal pass.
            firstRow = needV ? vertical.Start[0] : 0;
            int lastRow = needV ? vertical.Start[outHeight - 1] + vertical.Count[outHeight - 1] : height;
            rowCount = lastRow - firstRow;
            rows = new byte[outWidth * rowCount * channels];
            Horizontal(src, width, channels, firstRow, rowCount, new LanczosCoefficients(width, outWidth), rows, outWidth);
        }
        if (!needV) return rows;
        var dst = new byte[outWidth * outHeight * channels];
        Vertical(rows, outWidth * channels, firstRow, vertical, dst, outHeight);
        return dst;
    }

    private static unsafe void Horizontal(byte[] src, int width, int channels, int firstRow, int rowCount,
                                          LanczosCoefficients co, byte[] dst, int outWidth)
    {
        const int half = 1 << (LanczosCoefficients.PrecisionBits - 1);
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* k0 = co.Kernel, start = co.Start, count = co.Count)
        {
            for (int y = 0; y < rowCount; y++)
            {
                byte* srow = s0 + (long)(y + firstRow) * width * channels;
                byte* drow = d0 + (long)y * outWidth * channels;
                for (int xx = 0; xx < outWidth; xx++)
                {
                    int* k = k0 + xx * co.KSize;
                    byte* p = srow + start[xx] * channels;
                    int n = count[xx];
                    byte* o = drow + xx * channels;
                    switch (channels)
                    {
                        case 3:
                        {
                            int a = half, b = half, c = half;
                            for (int t = 0; t < n; t++, p += 3) { int w = k[t]; a += p[0] * w; b += p[1] * w; c += p[2] * w; }
                            o[0] = Clip8(a); o[1] = Clip8(b); o[2] = Clip8(c);
                            break;
                        }
                        case 4:
                        {
                            int a = half, b = half, c = half, d = half;
                            for (int t = 0; t < n; t++, p += 4) { int w = k[t]; a += p[0] * w; b += p[1] * w; c += p[2] * w; d += p[3] * w; }
                            o[0] = Clip8(a); o[1] = Clip8(b); o[2] = Clip8(c); o[3] = Clip8(d);
                            break;
                        }
                        default:
                            for (int ch = 0; ch < channels; ch++)
                            {
                                int a = half;
                                for (int t = 0; t < n; t++) a += p[t * channels + ch] * k[t];
                                o[ch] = Clip8(a);
                            }
                            break;
                    }
                }
            }
        }
    }

    /// <summary>Vertical pass a whole row at a time: the inner loop runs along memory.</summary>
    private static unsafe void Vertical(byte[] src, int rowBytes, int firstRow, LanczosCoefficients co, byte[] dst, int outHeight)
    {
        const int half = 1 << (LanczosCoefficients.PrecisionBits - 1);
        var acc = new int[rowBytes];
        fixed (byte* s0 = src, d0 = dst)
        fixed (int* a = acc, k0 = co.Kernel)
        {
            for (int yy = 0; yy < outHeight; yy++)
            {
                new Span<int>(a, rowBytes).Fill(half);
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

    /// <summary>PIL's clip8: drop the fixed-point fraction (arithmetic shift), clamp to a byte.</summary>
    private static byte Clip8(int v)
    {
        int x = v >> LanczosCoefficients.PrecisionBits;
        return (byte)(x < 0 ? 0 : x > 255 ? 255 : x);
    }
}
