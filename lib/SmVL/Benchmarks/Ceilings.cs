using System.Diagnostics;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>
/// What this machine can do at best, measured in the same process as the workload so MFU and the
/// bandwidth bound are relative to the same threads and the same libtorch: square matmul GFLOP/s
/// in fp32 and bf16, memory copy bandwidth, and read bandwidth (a sum over a buffer as large as what
/// a decode step reads: weights and cache stream from memory once per token, and a buffer that fits
/// the processor's caches would be read faster than memory can deliver). Best of N, because the
/// machine is shared and the best run is the one least disturbed by other processes; the bench
/// measures twice (start and end) and keeps the best. bf16 is measured at most 512 wide: a CPU
/// without native bf16 (AVX2 only) runs it through a reference kernel at well under 1 GFLOP/s.
/// </summary>
/// <param name="CopyGbps">STREAM "copy" convention: (bytes read + bytes written) per second</param>
/// <param name="ReadGbps">bytes read per second by a reduction over a buffer of <paramref name="ReadBytes"/></param>
public sealed record Ceilings(double MatmulFp32Gflops, double MatmulBf16Gflops, double CopyGbps, double ReadGbps, int Threads,
                             int MatmulSize, int MatmulBf16Size, long CopyBytes, long ReadBytes, int Repeats)
{
    public static Ceilings Measure(int matmulSize, long copyBytes, long readBytes, int repeats)
    {
        using var _ = no_grad();
        double fp32 = MatmulGflops(matmulSize, ScalarType.Float32, repeats);
        int bf16Size = Math.Min(matmulSize, 512);
        double bf16 = MatmulGflops(bf16Size, ScalarType.BFloat16, repeats);
        double copy = MeasureCopyGbps(copyBytes, repeats);
        double read = MeasureReadGbps(readBytes, repeats);
        return new Ceilings(fp32, bf16, copy, read, get_num_threads(), matmulSize, bf16Size, copyBytes, readBytes, repeats);
    }

    /// <summary>The best of two measurements, field by field.</summary>
    public Ceilings Max(Ceilings other) => this with
    {
        MatmulFp32Gflops = Math.Max(MatmulFp32Gflops, other.MatmulFp32Gflops), MatmulBf16Gflops = Math.Max(MatmulBf16Gflops, other.MatmulBf16Gflops),
        CopyGbps = Math.Max(CopyGbps, other.CopyGbps), ReadGbps = Math.Max(ReadGbps, other.ReadGbps),
    };

    /// <summary>A sum over a float32 buffer of <paramref name="bytes"/>: bytes read once, at the best of <paramref name="repeats"/>.</summary>
    public static double MeasureReadGbps(long bytes, int repeats) => bytes / ReadSeconds(bytes, repeats).Min() / 1e9;

    /// <summary>Each of <paramref name="repeats"/> timed sums over a float32 buffer of <paramref name="bytes"/> (<see cref="Seconds"/>).</summary>
    public static double[] ReadSeconds(long bytes, int repeats)
    {
        using var scope = NewDisposeScope();
        var src = ones(bytes / 4);
        return Seconds(() => src.sum().Dispose(), repeats);
    }

    /// <summary>2n³ FLOPs per n×n product, best of <paramref name="repeats"/> after one warm-up.</summary>
    public static double MatmulGflops(int n, ScalarType dtype, int repeats)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        double best = BestSeconds(() => a.mm(b).Dispose(), repeats);
        return 2.0 * n * n * n / best / 1e9;
    }

    /// <summary>Copy of a float32 buffer of <paramref name="bytes"/> into another: 2·bytes moved.</summary>
    public static double MeasureCopyGbps(long bytes, int repeats)
    {
        using var scope = NewDisposeScope();
        var src = rand(bytes / 4);
        var dst = empty_like(src);
        double best = BestSeconds(() => dst.copy_(src), repeats);
        return 2.0 * bytes / best / 1e9;
    }

    /// <summary>Fastest of <paramref name="repeats"/> timed calls, after one untimed warm-up.</summary>
    public static double BestSeconds(Action work, int repeats) => Seconds(work, repeats).Min();

    /// <summary>Each of <paramref name="repeats"/> timed calls, after one untimed warm-up.</summary>
    public static double[] Seconds(Action work, int repeats)
    {
        work();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            work();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return times;
    }
}
