using System.Text.Json.Nodes;
using SmVL.Benchmarks;
using SmVL.Models;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Benchmarks;

/// <summary>The bench machinery at toy size: the analytic counts against hand counts and the real modules, and the report's keys.</summary>
public class BenchTests(ITestOutputHelper log)
{
    private static readonly BenchSettings Toy = BenchSettings.Quick;

    [Fact]
    public void FlopFormulasMatchAHandCountOfTheToyModel()
    {
        var c = Toy.Model;
        // Text: 2 layers × [2·64·(64 + 2·32) q,k,v + 2·64·64 o + 3·2·64·128 MLP] = 2 × 73,728.
        Assert.Equal(147_456, Flops.LmLinearPerToken(c.TextConfig));
        // Causal attention at 4 tokens: 2 layers × 2 products × 2 FLOPs × 10 pairs × 64 (heads × head_dim).
        Assert.Equal(2 * 2 * 2 * 10 * 64, Flops.CausalAttention(c.TextConfig, 4));
        Assert.Equal(2.0 * 3 * 64 * 512, Flops.Head(c.TextConfig, 3));
        // Vision (16 patches, width 32, mlp 64, 2 layers): patch 2·16·192·32 + 2 × (2·16·4·32² + 2·16·2·32·64 + 4·16²·32).
        Assert.Equal(196_608 + 2 * (131_072 + 131_072 + 32_768), Flops.VisionForwardPerTile(c.VisionConfig));

        var step = Flops.ConnectorOnlyTrainStep(c, tokens: 32, tiles: 1, labelled: 27);
        Assert.Equal(2.0 * 4 * 128 * 64, step.ConnectorForward);           // 4 image tokens × 128 → 64
        Assert.Equal(step.ConnectorForward, step.ConnectorBackward);
        Assert.Equal(step.LmForward + Flops.CausalAttention(c.TextConfig, 32), step.LmBackward, 6);
    }

    [Fact]
    public void FlopAndByteCountsAgreeWithTheModulesTheyDescribe()
    {
        using var model = new SmolVLMForConditionalGeneration(Toy.Model);
        var t = Toy.Model.TextConfig;
        // A decode step reads every text-model parameter once (the tied head is the embedding).
        long textBytes = model.model.text_model.parameters().Sum(p => p.numel() * p.ElementSize);
        Assert.Equal(textBytes, DecodeBench.WeightBytesPerToken(t, sizeof(float)));
        // Forward matmul FLOPs per token = 2 × the decoder-layer Linear weights.
        long layerLinear = model.model.text_model.layers.named_parameters()
            .Where(np => np.name.EndsWith("proj.weight")).Sum(np => np.parameter.numel());
        Assert.Equal(2.0 * layerLinear, Flops.LmLinearPerToken(t));

        using var _ = no_grad();
        using var cache = new KvCache(model.NumLayers);
        using var ids = randint(0, 400, new long[] { 1, 24 }, dtype: int64);
        using var hidden = model.Hidden(ids, cache: cache);
        Assert.Equal(cache.Bytes, DecodeBench.KvCacheBytes(t, 24, sizeof(float)));
    }

    [Fact]
    public void TheLossSendsOnlyLabelledPositionsThroughTheHead()
    {
        using var model = Bench.Build(Toy);
        var spy = new HeadSpy(model);
        using var batch = new TrainStepBench.SyntheticSource(Toy.Model, seq: 64, tiles: 5).Get(0);
        using var loss = CausalLMLoss.Sum(spy, batch);
        Assert.Equal(new long[] { batch.LabelledTokens, Toy.Model.TextConfig.HiddenSize }, spy.HeadInputShape);
        Assert.True(spy.HeadInputShape![0] < 64 - 20, "image positions must not reach the head");
    }

    /// <summary>Delegates to the model and records what the LM head is given.</summary>
    private sealed class HeadSpy(SmolVLMForConditionalGeneration model) : ICausalLM
    {
        public long[]? HeadInputShape { get; private set; }
        public int NumLayers => model.NumLayers;
        public Tensor Forward(Tensor ids, Tensor? mask, KvCache? cache, Tensor? positions, Tensor? pixels) =>
            ((ICausalLM)model).Forward(ids, mask, cache, positions, pixels);
        public Tensor Hidden(Tensor ids, Tensor? pixels, Tensor? mask) => ((ICausalLM)model).Hidden(ids, pixels, mask);
        public Tensor Logits(Tensor hidden) { HeadInputShape = hidden.shape; return model.Logits(hidden); }
        public Tensor HeadWeight => model.HeadWeight;
    }

    [Fact]
    public void ToyBenchWritesTheRequiredKeysWithSaneValues()
    {
        var s = Toy with { TrainShapes = [(32, 1, 1, false), (64, 5, 1, false), (64, 5, 1, true)], DecodeContexts = [16, 32, 64], DecodeTokens = 3, CeilingRepeats = 1 };
        var report = Bench.Run(s);
        log.WriteLine(report.ToTable());
        var path = Path.Combine(Fixtures.TempDir(), "bench.json");
        report.Save(path);
        var json = JsonNode.Parse(File.ReadAllText(path))!;

        foreach (var key in new[] { "train_step.mfu", "decode.kv_speedup", "decode.bandwidth_fraction", "ceilings.matmul_fp32_gflops", "ceilings.copy_gbps" })
        {
            var parts = key.Split('.');
            double v = json[parts[0]]![parts[1]]!.GetValue<double>();
            Assert.True(double.IsFinite(v) && v > 0, $"{key} = {v}");
        }
        Assert.Equal(64, json["train_step"]!["seq"]!.GetValue<long>());          // the longest shape is the headline
        Assert.True(json["train_step"]!["lean"]!.GetValue<bool>());     // ... lean, against its plain twin
        var versus = json["train_step"]!["lean_vs_plain"]!;
        Assert.True(versus["step_time_ratio"]!.GetValue<double>() > 0);
        Assert.InRange(versus["loss_difference"]!.GetValue<double>(), 0, 1e-5 * report.HeadlineTrain.Loss);   // same batch and weights
        Assert.True(json["train_step"]!["peak_rss_gb"]!.GetValue<double>() > 0);
        Assert.Contains("matmul", json["train_step"]!["bf16"]!["probe"]!.GetValue<string>());
        Assert.True(json["decode"]!["kernels_same_tokens"]!.GetValue<bool>());            // the kernels change speed, not tokens
        Assert.True(json["decode"]!["kernels_speedup"]!.GetValue<double>() > 0);   // bf16 measured, or why not
        Assert.True(json["decode"]!["stack_same_tokens"]!.GetValue<bool>());            // the stack as one job changes speed, not tokens
        Assert.True(json["decode"]!["stack_speedup"]!.GetValue<double>() > 0);
        Assert.Equal(32, json["decode"]!["context"]!.GetValue<long>());          // the middle context when 512 is absent
        // The read bound streams as many bytes as the headline decode step reads (weights and cache), not a fixed buffer.
        Assert.Equal(json["decode"]!["bytes_per_token"]!.GetValue<long>(), json["ceilings"]!["read_bytes"]!.GetValue<long>());
        Assert.NotEqual(s.CopyBytes, json["ceilings"]!["read_bytes"]!.GetValue<long>());
        // ... and the headline fraction is against the probe measured beside that decode.
        var headline = json["decode"]!;
        Assert.True(headline["read_gbps"]!.GetValue<double>() > 0);
        Assert.Equal(report.HeadlineDecode.KvTokensPerSecond * headline["bytes_per_token"]!.GetValue<long>() / (headline["read_gbps"]!.GetValue<double>() * 1e9),
                     headline["bandwidth_fraction"]!.GetValue<double>(), 9);
        // The median fraction: the median of the headline decode's own token times against the probe's median run (two probes, pooled).
        var ctx = json["decode"]!["contexts"]!.AsArray().First(d => d!["context"]!.GetValue<long>() == 32)!;
        var tokenMs = ctx["token_ms"]!.AsArray().Select(t => t!.GetValue<double>()).ToArray();
        Assert.Equal(s.DecodeTokens, tokenMs.Length);
        Assert.True(ctx["read_median_gbps"]!.GetValue<double>() <= ctx["read_gbps"]!.GetValue<double>());
        Assert.Equal(headline["bytes_per_token"]!.GetValue<long>() / (tokenMs.Order().ElementAt(1) / 1e3) / (ctx["read_median_gbps"]!.GetValue<double>() * 1e9),
                     headline["bandwidth_fraction_median"]!.GetValue<double>(), 6);
        Assert.Equal(3, json["train_step"]!["breakdown"]!.AsObject().Count);     // context 64 = the headline length

        // The freeze audit: no frozen gradient, AdamW state for the connector only (two fp32 moments).
        var memory = json["memory"]!;
        long connector = 4L * 32 * 64;                                           // scale² · vision width → text width
        Assert.Equal(0, memory["frozen_params_with_grad"]!.GetValue<int>());
        Assert.Equal(connector, memory["trainable_params"]!.GetValue<long>());
        Assert.Equal(1, memory["optimizer_states"]!.GetValue<int>());
        Assert.Equal(2 * 4 * connector, memory["adamw_state_bytes"]!.GetValue<long>());

        var train = report.HeadlineTrain;
        Assert.True(double.IsFinite(train.Loss), $"loss {train.Loss}");
        Assert.Equal(64 - 1 - 5 * 4, train.Labelled);                           // shifted labels: 63 positions, 20 of them image tokens
        Assert.Equal(train.Flops.Total / train.BestSeconds / 1e9, train.Gflops, 6);

        // The decode breakdown: every part of the per-layer decode timed, against that decode's own token time.
        var perToken = json["decode"]!["breakdown_ms"]!;
        Assert.All(new[] { "attention", "mlp", "head", "norms", "embed_rope" }, k => Assert.True(perToken[k]!.GetValue<double>() > 0, k));
        Assert.Equal(1e3 / report.PerLayerDecode!.KvTokensPerSecond, perToken["token"]!.GetValue<double>(), 9);

        // Resume: the seeked reader reads the resumed micro-batch's one sample, the replay every sample up to it (same batch: checked inside).
        var resume = json["resume"]!;
        Assert.Equal(s.ResumeStep, resume["step"]!.GetValue<long>());
        Assert.Equal(1, resume["samples_read"]!.GetValue<long>());
        Assert.Equal(s.ResumeStep + 1, resume["replay_samples_read"]!.GetValue<long>());
        Assert.True(resume["startup_s"]!.GetValue<double>() > 0 && resume["parquet_bytes"]!.GetValue<long>() > 0);

        var rows = json["extrapolation"]!["rows"]!.AsArray();
        Assert.Equal(s.Runs.Count * s.TrainShapes.Count, rows.Count);
        var first = report.Extrapolation[0];
        Assert.Equal(6400 * report.Train[0].BestSeconds / 3600, first.CpuHours, 9);
    }
}
