namespace SmVL.Training;

/// <summary>
/// Optimisation settings (defaults = the reference recipe: AdamW β 0.9/0.999, eps 1e-8, weight
/// decay 0.01, lr 1e-4, cosine with 10% warmup, clip 1.0, effective batch = micro × accumulation).
/// </summary>
public sealed record TrainOptions
{
    public long Steps { get; init; } = 200;
    public int GradAccum { get; init; } = 4;
    public double LearningRate { get; init; } = 1e-4;
    public string Schedule { get; init; } = "cosine";
    /// <summary>Warmup as a fraction of Steps (used when WarmupSteps is null).</summary>
    public double WarmupRatio { get; init; } = 0.1;
    public long? WarmupSteps { get; init; }
    public double WeightDecay { get; init; } = 0.01;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double ClipNorm { get; init; } = 1.0;
    public int EvalEvery { get; init; } = 50;
    public int EvalBatches { get; init; } = 4;
    public int SaveEvery { get; init; } = 50;
    public int KeepLast { get; init; } = 2;
    public bool Progress { get; init; } = true;

    public long Warmup => WarmupSteps ?? (long)Math.Ceiling(WarmupRatio * Steps);
}
