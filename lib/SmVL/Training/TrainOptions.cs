using System.Text.Json.Serialization;

namespace SmVL.Training;

/// <summary>
/// Optimisation settings (defaults = the reference recipe: AdamW β 0.9/0.999, eps 1e-8, weight
/// decay 0.01, lr 1e-4, cosine with 10% warmup, clip 1.0, effective batch = micro × accumulation).
/// JSON names are the `train` block of an experiment file (<see cref="Experiment"/>).
/// </summary>
public sealed record TrainOptions
{
    /// <summary>Optimizer steps.</summary>
    [JsonPropertyName("steps")] public long Steps { get; init; } = 200;
    /// <summary>Micro-batches accumulated per optimizer step.</summary>
    [JsonPropertyName("grad_accum")] public int GradAccum { get; init; } = 4;
    /// <summary>Samples per micro-batch (the batch source builds them; the trainer only reports it).</summary>
    [JsonPropertyName("micro_batch")] public int MicroBatch { get; init; } = 1;
    [JsonPropertyName("lr")] public double LearningRate { get; init; } = 1e-4;
    /// <summary>"cosine", "linear" or "constant" (HF semantics, see <see cref="Schedules"/>).</summary>
    [JsonPropertyName("schedule")] public string Schedule { get; init; } = "cosine";
    /// <summary>Warmup as a fraction of Steps (used when WarmupSteps is null): ceil(ratio · steps), as HF.</summary>
    [JsonPropertyName("warmup_ratio")] public double WarmupRatio { get; init; } = 0.1;
    [JsonPropertyName("warmup_steps")] public long? WarmupSteps { get; init; }
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.01;
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.999;
    [JsonPropertyName("eps")] public double Eps { get; init; } = 1e-8;
    /// <summary>Max global grad norm (≤ 0: no clipping; the pre-clip norm is logged either way).</summary>
    [JsonPropertyName("clip")] public double ClipNorm { get; init; } = 1.0;
    [JsonPropertyName("eval_every")] public int EvalEvery { get; init; } = 50;
    [JsonPropertyName("eval_batches")] public int EvalBatches { get; init; } = 4;
    [JsonPropertyName("save_every")] public int SaveEvery { get; init; } = 50;
    [JsonPropertyName("keep_last")] public int KeepLast { get; init; } = 2;
    /// <summary>
    /// Recompute each decoder layer (and, when the vision tower trains, each encoder layer) in the
    /// backward pass instead of keeping its activations (HF's `gradient_checkpointing`): a frozen
    /// 0.6B stack at 2,048 tokens then holds one tensor per layer.
    /// Same loss and gradients; one more forward of the stack per step.
    /// </summary>
    [JsonPropertyName("gradient_checkpointing"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool GradientCheckpointing { get; init; }
    /// <summary>
    /// Labelled positions per chunk through the LM head and cross-entropy (0: all at once). At 2,048
    /// tokens the one-shot head holds ~1,000 × 151,936 floats three times over; chunks hold a slice.
    /// </summary>
    [JsonPropertyName("loss_chunk"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int LossChunk { get; init; }
    [JsonIgnore] public bool Progress { get; init; } = true;
    /// <summary>The progress bar's name (runs side by side share the line).</summary>
    [JsonIgnore] public string ProgressLabel { get; init; } = "train";

    [JsonIgnore] public long Warmup => WarmupSteps ?? (long)Math.Ceiling(WarmupRatio * Steps);
    [JsonIgnore] public int EffectiveBatch => MicroBatch * GradAccum;

    /// <summary>Problems with these settings (empty when valid).</summary>
    public IEnumerable<string> Problems()
    {
        if (Steps <= 0) yield return $"train.steps must be positive, got {Steps}";
        if (GradAccum <= 0) yield return $"train.grad_accum must be positive, got {GradAccum}";
        if (MicroBatch <= 0) yield return $"train.micro_batch must be positive, got {MicroBatch}";
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) yield return $"train.lr must be positive, got {LearningRate}";
        if (Schedule is not ("cosine" or "linear" or "constant")) yield return $"train.schedule '{Schedule}' is not cosine, linear or constant";
        if (!(WarmupRatio >= 0 && WarmupRatio < 1)) yield return $"train.warmup_ratio must be in [0, 1), got {WarmupRatio}";
        if (WarmupSteps is { } w && (w < 0 || w >= Steps)) yield return $"train.warmup_steps must be in [0, steps), got {w}";
        if (!(WeightDecay >= 0)) yield return $"train.weight_decay must be ≥ 0, got {WeightDecay}";
        if (!(Beta1 >= 0 && Beta1 < 1) || !(Beta2 >= 0 && Beta2 < 1)) yield return $"train.beta1/beta2 must be in [0, 1), got {Beta1}/{Beta2}";
        if (!(Eps > 0)) yield return $"train.eps must be positive, got {Eps}";
        if (double.IsNaN(ClipNorm)) yield return "train.clip is NaN";
        if (EvalEvery < 0 || SaveEvery < 0) yield return "train.eval_every/save_every must be ≥ 0 (0 = never)";
        if (EvalBatches < 0) yield return $"train.eval_batches must be ≥ 0, got {EvalBatches}";
        if (LossChunk < 0) yield return $"train.loss_chunk must be ≥ 0 (0 = the whole head at once), got {LossChunk}";
        if (KeepLast < 1) yield return $"train.keep_last must be ≥ 1, got {KeepLast}";
    }
}
