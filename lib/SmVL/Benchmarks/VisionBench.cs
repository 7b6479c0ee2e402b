using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <param name="TilesPerSecond">best of the repeats</param>
public sealed record VisionResult(int Tiles, double TilesPerSecond, double GflopsPerTile, double Gflops, double Mfu, long? PeakRssBytes);

/// <summary>The frozen vision tower alone, in inference mode: how many 512×512 tiles per second.</summary>
public static class VisionBench
{
    public static VisionResult Run(VisionTransformer tower, int tiles, int repeats, double peakGflops)
    {
        MemoryProbe.ResetPeak();
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var c = tower.Config;
        var pixels = rand(tiles, c.NumChannels, c.ImageSize, c.ImageSize).mul_(Scalars.Two).sub_(Scalars.One);
        double best = Ceilings.BestSeconds(() => tower.forward(pixels).Dispose(), repeats);
        double perTile = Flops.VisionForwardPerTile(c);
        double gflops = tiles * perTile / best / 1e9;
        return new VisionResult(tiles, tiles / best, perTile / 1e9, gflops, gflops / peakGflops, MemoryProbe.PeakBytes);
    }
}
