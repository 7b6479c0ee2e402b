namespace SmVL.Benchmarks;

/// <summary>A blog run's cost at one sequence length: measured CPU seconds per sample × samples, and the same FLOPs on a GPU.</summary>
public sealed record ExtrapolationRow(string Run, long Samples, long Seq, bool Lean, double CpuHours, double GpuHours);

/// <summary>
/// What the blog's runs would cost here and on a GPU. Every sample is assumed to be the measured
/// shape (seq 512 = one tile is the cheap end, seq 2048 with 17 tiles the dear end); the optimizer
/// step, once per effective batch, is a rounding error next to 32 forward/backward passes.
/// </summary>
public static class Extrapolation
{
    /// <param name="runs">(name, samples = steps × grad_accum × micro_batch)</param>
    /// <param name="gpuPeakTflops">the GPU's dense peak in the dtype it would train in</param>
    /// <param name="gpuMfu">the fraction of that peak assumed achieved</param>
    public static IReadOnlyList<ExtrapolationRow> Table(IEnumerable<(string Name, long Samples)> runs,
        IEnumerable<TrainStepResult> measured, double gpuPeakTflops, double gpuMfu) =>
        runs.SelectMany(r => measured.Select(m => new ExtrapolationRow(r.Name, r.Samples, m.Seq, m.Lean,
            r.Samples * m.BestSeconds / 3600,
            r.Samples * m.Flops.Total / (gpuPeakTflops * 1e12 * gpuMfu) / 3600))).ToList();
}
