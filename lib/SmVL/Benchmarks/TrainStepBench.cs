using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Training;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>One measured training shape: time per step (one sample) and what it means against the peak.</summary>
/// <param name="StepSeconds">each measured step, warm-up excluded</param>
/// <param name="BestSeconds">the fastest step (the least disturbed by other processes, like the ceilings)</param>
/// <param name="Mfu">achieved GFLOP/s over the measured fp32 matmul peak</param>
/// <param name="KernelTimeFraction">share of this process's CPU time spent in the kernel (page faults on fresh activation memory), warm-up included</param>
/// <param name="Lean">decoder layers recomputed in the backward pass and the head in chunks (<see cref="TrainOptions.GradientCheckpointing"/>, <see cref="TrainOptions.LossChunk"/>)</param>
public sealed record TrainStepResult(long Seq, int Tiles, bool Lean, long Labelled, double[] StepSeconds, double BestSeconds,
                                     StepFlops Flops, double Gflops, double Mfu, long? PeakRssBytes, double Loss,
                                     double KernelTimeFraction, FreezeAudit Audit);

/// <summary>
/// Connector-only training steps through the real <see cref="Trainer"/> (CausalLMLoss on labelled
/// positions, AdamW over the connector, clipping) on one synthetic sample laid out as the processor
/// lays out an image prompt: a text token, tiles × image_seq_len image tokens, then text that all
/// carries loss (the blog's full-text labels).
/// </summary>
public static class TrainStepBench
{
    public static TrainStepResult Run(SmolVLMForConditionalGeneration model, long seq, int tiles, int leanChunk, int warmup, int steps,
                                      double peakGflops, string runDir)
    {
        MemoryProbe.ResetPeak();
        var options = new TrainOptions
        {
            Steps = warmup + steps, GradAccum = 1, MicroBatch = 1, Schedule = "constant", WarmupSteps = 0,
            EvalEvery = 0, SaveEvery = 0, GradientCheckpointing = leanChunk > 0, LossChunk = leanChunk,
        };
        using var trainer = new Trainer(model, options, runDir) { Tensorboard = false };
        var source = new SyntheticSource(model.Config, seq, tiles);
        var seconds = new List<double>();
        double loss = double.NaN;
        using var process = Process.GetCurrentProcess();
        var (user0, system0) = (process.UserProcessorTime, process.PrivilegedProcessorTime);
        // The optimizer's updates are undone afterwards, so every shape is measured from the same weights.
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        var before = trainable.Select(p => p.detach().clone()).ToList();
        try
        {
            trainer.Run(source, onStep: (step, row) =>
            {
                if (step > warmup) seconds.Add(1.0 / row["samples_per_s"]);
                loss = row["loss"];
            });
        }
        finally
        {
            foreach (var stack in model.modules().OfType<ICheckpointedStack>()) stack.GradientCheckpointing = false;
            using (no_grad())
                for (int i = 0; i < trainable.Count; i++) trainable[i].copy_(before[i]);
            foreach (var t in before) t.Dispose();
        }
        process.Refresh();
        double user = (process.UserProcessorTime - user0).TotalSeconds, system = (process.PrivilegedProcessorTime - system0).TotalSeconds;
        using var probe = source.Get(0);
        long labelled = probe.LabelledTokens;
        var flops = Flops.ConnectorOnlyTrainStep(model.Config, seq, tiles, labelled);
        double best = seconds.Min();
        double gflops = flops.Total / best / 1e9;
        return new TrainStepResult(seq, tiles, leanChunk > 0, labelled, seconds.ToArray(), best, flops, gflops, gflops / peakGflops,
                                   MemoryProbe.PeakBytes, loss,
                                   system / Math.Max(1e-9, user + system), FreezeAudit.Of(model, trainer));
    }

    /// <summary>
    /// The same sample every step: ids (1, seq) = [text, IMG × tiles·image_seq_len, text …], labels =
    /// ids with the image positions −100, pixels (1, tiles, 3, H, W) of uniform noise in [−1, 1].
    /// Text ids stay below the image-token id so they never collide with it.
    /// </summary>
    public sealed class SyntheticSource(SmolVLMConfig config, long seq, int tiles) : IBatchSource
    {
        public Batch Get(long microBatchIndex)
        {
            long imageTokens = (long)tiles * config.ImageSeqLen;
            if (imageTokens + 2 > seq)
                throw new ArgumentException($"sequence {seq} cannot hold {tiles} tiles × {config.ImageSeqLen} image tokens plus text");
            using var scope = NewDisposeScope();
            var gen = new TorchSharp.torch.Generator(1234, CPU);
            long textVocab = Math.Min(config.TextConfig.VocabSize, config.ImageTokenId);
            var ids = randint(0, textVocab, new long[] { 1, seq }, dtype: int64, generator: gen);
            ids[.., 1..(int)(1 + imageTokens)] = tensor((long)config.ImageTokenId);
            var labels = ids.masked_fill(ids.eq(Scalars.Of(config.ImageTokenId)), Scalars.IgnoreIndex);
            var v = config.VisionConfig;
            var pixels = rand(new long[] { 1, tiles, v.NumChannels, v.ImageSize, v.ImageSize }, generator: gen).mul_(Scalars.Two).sub_(Scalars.One);
            var mask = ones(1, seq, dtype: int64);
            return new Batch(ids.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(),
                             pixels.MoveToOuterDisposeScope());
        }
    }
}
