using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Stitching;
using SmVL.Tests.Stitching;
using SmVL.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>The training loop on a tiny stitched model (set A parents, synthetic batches).</summary>
public class TrainerTests(ITestOutputHelper log)
{
    private static Trainer NewTrainer(SmVL.Models.SmolVLMForConditionalGeneration m, TrainOptions o, string dir) =>
        new(m, o, dir) { Tensorboard = false };

    [Fact]
    public void CorrectWiringGivesTheConnectorAGradient()
    {
        var model = StitchKit.Stitched(brokenWiring: false);
        Assert.True(Stitcher.WiringIsIntact(model, StitchKit.ImageToken));
        Assert.Equal(StitchKit.ImageToken, model.model.MergerImageTokenId);
        var rows = new List<IReadOnlyDictionary<string, double>>();
        var trainer = NewTrainer(model, StitchKit.Options(1), Fixtures.TempDir());
        Assert.Equal(new[] { "model.connector.modality_projection.proj.weight" }, trainer.TrainableNames);
        trainer.Run(new StitchKit.Source(), onStep: (_, r) => rows.Add(r));
        log.WriteLine($"grad_norm {rows[0]["grad_norm"]:E3}, connector {rows[0]["grad_norm_connector"]:E3}, loss {rows[0]["loss"]:F5}");
        Assert.True(rows[0]["grad_norm_connector"] > 0);
        Assert.Equal(rows[0]["grad_norm_connector"], rows[0]["grad_norm"], 6);
    }

    [Fact]
    public void BrokenWiringGivesExactlyZeroGradientAndAFlatLoss()
    {
        var model = StitchKit.Stitched(brokenWiring: true);
        Assert.False(Stitcher.WiringIsIntact(model, StitchKit.ImageToken));
        Assert.Equal(StitchKit.ParentImageToken, model.model.MergerImageTokenId);
        var rows = new List<IReadOnlyDictionary<string, double>>();
        // Fixed batch: with no image feature reaching the LM, nothing trainable affects the loss.
        NewTrainer(model, StitchKit.Options(5, accum: 2, lr: 1e-2), Fixtures.TempDir())
            .Run(new StitchKit.Source(fixedBatch: true), onStep: (_, r) => rows.Add(r));
        Assert.Equal(5, rows.Count);
        foreach (var r in rows)
        {
            Assert.Equal(0.0, r["grad_norm"]);
            Assert.Equal(0.0, r["grad_norm_connector"]);
        }
        long first = BitConverter.DoubleToInt64Bits(rows[0]["loss"]);
        Assert.All(rows, r => Assert.Equal(first, BitConverter.DoubleToInt64Bits(r["loss"])));

        // Same model, wiring fixed: the same batch now gives a non-zero gradient and a different loss.
        model.model.MergerImageTokenId = StitchKit.ImageToken;
        var fixedRows = new List<IReadOnlyDictionary<string, double>>();
        NewTrainer(model, StitchKit.Options(1), Fixtures.TempDir()).Run(new StitchKit.Source(fixedBatch: true), onStep: (_, r) => fixedRows.Add(r));
        Assert.True(fixedRows[0]["grad_norm"] > 0);
        Assert.NotEqual(rows[0]["loss"], fixedRows[0]["loss"]);
    }

    [Fact]
    public void LossFallsOnAFixedBatch()
    {
        var model = StitchKit.Stitched();
        var trainer = NewTrainer(model, StitchKit.Options(30, lr: 1e-2) with { ClipNorm = 0 }, Fixtures.TempDir());
        trainer.Run(new StitchKit.Source(fixedBatch: true));
        log.WriteLine(string.Join(" ", trainer.Losses.Select(l => l.ToString("F4"))));
        Assert.Equal(30, trainer.Losses.Count);
        Assert.True(trainer.Losses[^1] < trainer.Losses[0] - 0.25, $"loss {trainer.Losses[0]} → {trainer.Losses[^1]}");
        for (int i = 1; i < trainer.Losses.Count; i++)
            Assert.True(trainer.Losses[i] < trainer.Losses[i - 1], $"loss rose at step {i + 1}: {trainer.Losses[i - 1]} → {trainer.Losses[i]}");
    }

    [Fact]
    public void ResumeIsBitwiseTheUninterruptedRun()
    {
        var o = StitchKit.Options(6, accum: 2, lr: 5e-3, schedule: "cosine", warmup: 1) with { SaveEvery = 3, KeepLast = 2 };
        var source = new StitchKit.Source(seed: 3);

        var full = StitchKit.Stitched();
        var fullTrainer = NewTrainer(full, o, Fixtures.TempDir());
        fullTrainer.Run(source);

        string dir = Fixtures.TempDir();
        var first = StitchKit.Stitched();
        var t1 = NewTrainer(first, o, dir);
        t1.Run(source, maxSteps: 3);
        Assert.Equal(new[] { "step_000003" }, TrainState.Completed(dir).Select(Path.GetFileName));
        first.Dispose();

        var second = StitchKit.Stitched();    // a fresh process: same frozen parents, connector re-initialised then restored
        var t2 = NewTrainer(second, o, dir);
        t2.Run(source, resume: true);
        Assert.Equal(6, t2.Step);

        var resumed = t1.Losses.Concat(t2.Losses).ToList();
        log.WriteLine("full    " + string.Join(" ", fullTrainer.Losses.Select(l => l.ToString("R"))));
        log.WriteLine("resumed " + string.Join(" ", resumed.Select(l => l.ToString("R"))));
        Assert.Equal(fullTrainer.Losses.Select(BitConverter.DoubleToInt64Bits), resumed.Select(BitConverter.DoubleToInt64Bits));
        var a = full.state_dict(); var b = second.state_dict();
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var k in a.Keys) Assert.True(StitchKit.BitEqual(a[k], b[k]), $"{k} differs after resume");

        var rows = MetricsLog.Read(dir).Where(r => r.ContainsKey("loss")).ToList();
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, rows.Select(r => r["step"]!.GetValue<long>()));
        Assert.Equal(resumed, rows.Select(r => r["loss"]!.GetValue<double>()));
        Assert.Equal(new[] { "step_000003", "step_000006" }, TrainState.Completed(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void ResumeFallsBackPastADamagedNewestCheckpointAndSaysSo()
    {
        var o = StitchKit.Options(6, lr: 5e-3) with { SaveEvery = 2, KeepLast = 3 };
        var full = NewTrainer(StitchKit.Stitched(), o, Fixtures.TempDir());
        full.Run(new StitchKit.Source());

        string dir = Fixtures.TempDir();
        NewTrainer(StitchKit.Stitched(), o, dir).Run(new StitchKit.Source(), maxSteps: 4);   // checkpoints 2 and 4
        string newest = TrainState.Completed(dir).Last();
        var optimizer = Path.Combine(newest, "optimizer.safetensors");
        File.WriteAllBytes(optimizer, File.ReadAllBytes(optimizer)[..100]);                   // truncated: a disk that filled up
        var notes = new List<string>();
        var t = new Trainer(StitchKit.Stitched(), o, dir) { Tensorboard = false, Log = notes.Add };
        t.Run(new StitchKit.Source(), resume: true);
        Assert.Contains(notes, n => n.Contains("step_000004") && n.Contains("damaged"));
        Assert.Equal(full.Losses.Skip(2).Select(BitConverter.DoubleToInt64Bits), t.Losses.Select(BitConverter.DoubleToInt64Bits));   // from step 2, bitwise
    }

    [Fact]
    public void AnInterruptedRunStopsAtAStepBoundaryWithACheckpointAndResumesBitwise()
    {
        var o = StitchKit.Options(6, lr: 5e-3) with { SaveEvery = 4 };
        var full = NewTrainer(StitchKit.Stitched(), o, Fixtures.TempDir());
        full.Run(new StitchKit.Source());

        string dir = Fixtures.TempDir();
        using var cancel = new CancellationTokenSource();
        var first = NewTrainer(StitchKit.Stitched(), o, dir);
        var e = Assert.Throws<TrainingInterruptedException>(() =>
            first.Run(new StitchKit.Source(), onStep: (step, _) => { if (step == 3) cancel.Cancel(); }, cancel: cancel.Token));
        Assert.Equal(3, e.Step);
        Assert.Contains("--resume", e.Message);
        Assert.Equal(new[] { "step_000003" }, TrainState.Completed(dir).Select(Path.GetFileName));   // saved where it stopped, off the save schedule
        var second = NewTrainer(StitchKit.Stitched(), o, dir);
        second.Run(new StitchKit.Source(), resume: true);
        Assert.Equal(full.Losses.Select(BitConverter.DoubleToInt64Bits), first.Losses.Concat(second.Losses).Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void ResumeDropsMetricsRowsPastTheCheckpointAndFreshRunsStartClean()
    {
        var o = StitchKit.Options(4) with { SaveEvery = 2 };
        string dir = Fixtures.TempDir();
        NewTrainer(StitchKit.Stitched(), o, dir).Run(new StitchKit.Source(), maxSteps: 3);   // checkpoints 2 and 3
        Directory.Delete(Path.Combine(TrainState.Dir(dir), "step_000003"), true);              // "killed" before 3 was kept
        File.AppendAllText(Path.Combine(dir, "metrics.jsonl"), "{\"step\": 4, \"lo");           // and a torn line
        var t = NewTrainer(StitchKit.Stitched(), o, dir);
        t.Run(new StitchKit.Source(), resume: true);
        Assert.Equal(new long[] { 1, 2, 3, 4 }, MetricsLog.Read(dir).Select(r => r["step"]!.GetValue<long>()));

        // A fresh run in the same directory forgets the old checkpoints (no pruning against stale ones).
        NewTrainer(StitchKit.Stitched(), o with { Steps = 2 }, dir).Run(new StitchKit.Source());
        Assert.Equal(new[] { "step_000002" }, TrainState.Completed(dir).Select(Path.GetFileName));
        Assert.Equal(2, MetricsLog.Read(dir).Count);
    }

    /// <summary>
    /// A tensor that no one disposes is freed by the finalizer thread whenever a GC finds it, possibly
    /// while libtorch still reads it: steady-state steps (checkpoints and eval included) leave none.
    /// </summary>
    [Fact]
    public void LiveTensorCountDoesNotGrowAcrossSteps()
    {
        var model = StitchKit.Stitched();
        var counts = new List<long>();
        NewTrainer(model, StitchKit.Options(8, accum: 2) with { SaveEvery = 2, EvalEvery = 2, EvalBatches = 1 }, Fixtures.TempDir())
            .Run(new StitchKit.Source(), eval: new StitchKit.Source(seed: 99), onStep: (_, _) => counts.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount));
        log.WriteLine("live tensors after each step: " + string.Join(" ", counts));
        Assert.Equal(8, counts.Count);
        Assert.All(counts.Skip(1), c => Assert.Equal(counts[1], c));
    }

    [Fact]
    public void FrozenParametersHaveNoGradientAndNoOptimizerState()
    {
        var model = StitchKit.Stitched();
        string dir = Fixtures.TempDir();
        var trainer = NewTrainer(model, StitchKit.Options(2) with { SaveEvery = 2 }, dir);
        bool checkedGrads = false;
        trainer.Run(new StitchKit.Source(), onStep: (_, _) =>
        {
            foreach (var (name, p) in model.named_parameters())
                if (!p.requires_grad) Assert.True(p.grad is null, $"frozen {name} has a gradient");
            checkedGrads = true;
        });
        Assert.True(checkedGrads);
        Assert.Equal(1, trainer.OptimizerStateCount);
        long trainable = StitchKit.ConnectorWeight(model).numel();
        var ckpt = TrainState.Completed(dir).Single();
        using (var f = SafetensorsFile.Open(Path.Combine(ckpt, "trainable.safetensors")))
            Assert.Equal(new[] { "model.connector.modality_projection.proj.weight" }, f.Tensors.Keys);
        // AdamW keeps exp_avg and exp_avg_sq (float32) for the connector only.
        using (var f = SafetensorsFile.Open(Path.Combine(ckpt, "optimizer.safetensors")))
        {
            Assert.Equal(new[] { "model.connector.modality_projection.proj.weight.exp_avg", "model.connector.modality_projection.proj.weight.exp_avg_sq" },
                         f.Tensors.Keys.Order());
            Assert.Equal(2 * trainable * 4, f.DataLength);
            Assert.Equal("2", f.Metadata["step"]);
        }
    }

    [Fact]
    public void NaNLossStopsTheRunAndKeepsTheLastGoodCheckpoint()
    {
        var model = StitchKit.Stitched();
        string dir = Fixtures.TempDir();
        Tensor? afterStep2 = null;
        // Micro-batch 2 (step 3, accumulation 1) carries NaN pixels.
        var source = new StitchKit.Source { Tamper = (i, b) => { if (i == 2) b.PixelValues!.fill_(double.NaN); return b; } };
        var trainer = NewTrainer(model, StitchKit.Options(6) with { SaveEvery = 2 }, dir);
        var e = Assert.Throws<TrainingDivergedException>(() =>
            trainer.Run(source, onStep: (s, _) => { if (s == 2) afterStep2 = StitchKit.ConnectorWeight(model).detach().clone(); }));
        log.WriteLine(e.Message);
        Assert.Equal(2, trainer.Step);
        Assert.Equal(new[] { "step_000002" }, TrainState.Completed(dir).Select(Path.GetFileName));
        Assert.True(StitchKit.BitEqual(afterStep2!, StitchKit.ConnectorWeight(model)), "the diverged step must not update the parameters");
        var saved = Safetensors.Load(Path.Combine(TrainState.Completed(dir).Single(), "trainable.safetensors"));
        Assert.True(StitchKit.BitEqual(afterStep2!, saved["model.connector.modality_projection.proj.weight"]));
        var last = MetricsLog.Read(dir)[^1];
        Assert.Equal(3, last["step"]!.GetValue<long>());
        Assert.Null(last["loss"]);

        // And the run resumes from step 2 once the data is fixed.
        var again = NewTrainer(StitchKit.Stitched(), StitchKit.Options(3) with { SaveEvery = 2 }, dir);
        again.Run(new StitchKit.Source(), resume: true);
        Assert.Equal(3, again.Step);
        Assert.True(double.IsFinite(again.Losses.Single()));
    }

    [Fact]
    public void AccumulatedMicroBatchesEqualTheConcatenatedBatch()
    {
        // Two single-sample micro-batches with different numbers of labelled tokens (padding 0 and 7, same length).
        var both = StitchKit.MakeBatch(11, batch: 2, t: 16, pads: new[] { 0, 7 });
        Batch Row(int i) => new(both.InputIds[i..(i + 1)].clone(), both.AttentionMask[i..(i + 1)].clone(), both.Labels[i..(i + 1)].clone(), both.PixelValues![i..(i + 1)].clone());
        var split = new FixedSource(i => Row((int)(i % 2)));
        var whole = new FixedSource(_ => new Batch(both.InputIds.clone(), both.AttentionMask.clone(), both.Labels.clone(), both.PixelValues!.clone()));

        var rowsA = new List<IReadOnlyDictionary<string, double>>();
        var rowsB = new List<IReadOnlyDictionary<string, double>>();
        NewTrainer(StitchKit.Stitched(), StitchKit.Options(1, accum: 2), Fixtures.TempDir()).Run(split, onStep: (_, r) => rowsA.Add(r));
        NewTrainer(StitchKit.Stitched(), StitchKit.Options(1, accum: 1), Fixtures.TempDir()).Run(whole, onStep: (_, r) => rowsB.Add(r));

        // The reference value, by hand: Σ CE over all labelled tokens / their count.
        var m = StitchKit.Stitched();
        double s0, s1, sAll; long n0, n1;
        using (no_grad())
        {
            using var b0 = Row(0); using var b1 = Row(1);
            s0 = CausalLMLoss.Sum(m, b0).item<float>(); s1 = CausalLMLoss.Sum(m, b1).item<float>();
            sAll = CausalLMLoss.Sum(m, both).item<float>();
            n0 = b0.LabelledTokens; n1 = b1.LabelledTokens;
        }
        Assert.Equal(11, n0); Assert.Equal(4, n1);   // 15 shifted positions − 4 image tokens; 8 − 4
        double tokenWeighted = (s0 + s1) / (n0 + n1), perSampleMean = (s0 / n0 + s1 / n1) / 2;
        log.WriteLine($"accumulated {rowsA[0]["loss"]:R}, concatenated {rowsB[0]["loss"]:R}, Σ/count {tokenWeighted:R}, mean of means {perSampleMean:R}");
        Assert.Equal(sAll / (n0 + n1), rowsB[0]["loss"], 1e-6);
        Assert.Equal(rowsB[0]["loss"], rowsA[0]["loss"], 1e-6);
        Assert.Equal(tokenWeighted, rowsA[0]["loss"], 1e-6);
        Assert.True(Math.Abs(perSampleMean - tokenWeighted) > 1e-4, "the test batches must tell token weighting from per-sample means");
        Assert.Equal(rowsB[0]["grad_norm"], rowsA[0]["grad_norm"], 1e-6 * rowsB[0]["grad_norm"]);
    }

    [Fact]
    public void TheScheduledLearningRateIsWhatTheOptimizerUses()
    {
        // Linear with 2 warmup steps: the first optimizer step runs at lr 0 (HF), so nothing moves; the second does.
        var model = StitchKit.Stitched();
        var w0 = StitchKit.ConnectorWeight(model).detach().clone();
        var snapshots = new List<Tensor>();
        var rows = new List<IReadOnlyDictionary<string, double>>();
        var o = StitchKit.Options(4, lr: 1e-2, schedule: "linear", warmup: 2);
        NewTrainer(model, o, Fixtures.TempDir()).Run(new StitchKit.Source(), onStep: (_, r) =>
        {
            rows.Add(r);
            snapshots.Add(StitchKit.ConnectorWeight(model).detach().clone());
        });
        Assert.Equal(new[] { 0.0, 5e-3, 1e-2, 5e-3 }, rows.Select(r => r["lr"]));
        Assert.True(StitchKit.BitEqual(w0, snapshots[0]), "lr 0 must leave the weights unchanged");
        // AdamW's first real step moves each weight by about lr·sign(g) (plus decay): ≈ 5e-3 at most.
        double moved = Fixtures.MaxAbsDiff(snapshots[1], snapshots[0]);
        log.WriteLine($"max |Δw| at lr 5e-3: {moved:E3}");
        Assert.InRange(moved, 4e-3, 5.1e-3);
    }

    private sealed class FixedSource(Func<long, Batch> make) : IBatchSource
    {
        public Batch Get(long microBatchIndex) => make(microBatchIndex);
    }
}
