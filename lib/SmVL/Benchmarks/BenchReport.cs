using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SmVL.Benchmarks;

/// <summary>
/// Everything one bench run measured, as JSON (snake_case keys; the headline ratios at the top of
/// each section) and as a table for the terminal. Headlines: <c>train_step.mfu</c> and
/// <c>train_step.peak_rss_gb</c> at the longest shape (seq 2048; lean — checkpointed, head in
/// chunks — when that was measured, with the plain step beside it), <c>decode.kv_speedup</c> and
/// <c>decode.bandwidth_fraction</c> at context 512 (the middle context in quick mode), <c>resume.startup_s</c>.
/// </summary>
public sealed record BenchReport(BenchSettings Settings, Ceilings Ceilings, long Params, long WeightBytes,
    IReadOnlyList<TrainStepResult> Train, VisionResult Vision, IReadOnlyList<DecodeResult> Decode,
    IReadOnlyList<ExtrapolationRow> Extrapolation, IReadOnlyDictionary<string, long?> PeakRssByPhase, double WallSeconds)
{
    public TrainStepResult HeadlineTrain => Train.LastOrDefault(t => t.Seq == 2048) ?? Train[^1];
    /// <summary>The headline shape measured plain, when the headline is lean and both were measured.</summary>
    public TrainStepResult? PlainTwin => HeadlineTrain is { Lean: true } h
        ? Train.FirstOrDefault(t => t.Seq == h.Seq && t.Tiles == h.Tiles && !t.Lean) : null;
    public DecodeResult HeadlineDecode => Decode.First(d => d.Context == Settings.HeadlineContext);
    public FreezeAudit Audit => Train[^1].Audit;
    /// <summary>llama.cpp decoding the same model at the headline context, per GGUF type.</summary>
    public IReadOnlyList<PeerResult> Peers { get; init; } = [];
    /// <summary>Why the llama.cpp peer did not run, when it did not.</summary>
    public string? PeerError { get; init; }
    /// <summary>The headline lean step with bf16 frozen modules (MFU against the bf16 peak), when bf16 was measured faster here.</summary>
    public TrainStepResult? Bf16Train { get; init; }
    /// <summary>The headline decode with every one-row linear left to libtorch (one thread), for the row split's speed-up.</summary>
    public DecodeResult? UnsplitDecode { get; init; }
    /// <summary>The headline decode with each layer run on its own (<see cref="Models.DecodeStack"/> off); <see cref="DecodeParts"/> is its breakdown.</summary>
    public DecodeResult? PerLayerDecode { get; init; }
    /// <summary>Where the headline decode's token time goes.</summary>
    public DecodeParts? DecodeParts { get; init; }
    /// <summary>Resume start-up on generated real-size parquet, when measured.</summary>
    public ResumeResult? Resume { get; init; }
    /// <summary>What the bf16 probe measured (why bf16 was or was not used).</summary>
    public string? Bf16Evidence { get; init; }

    public JsonObject ToJson()
    {
        var t = HeadlineTrain; var d = HeadlineDecode; var c = Ceilings;
        return new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["libtorch"] = TorchSharp.torch.__version__, ["threads"] = c.Threads,
                ["processor_count"] = Environment.ProcessorCount, ["quick"] = Settings.IsQuick, ["wall_s"] = WallSeconds,
            },
            ["ceilings"] = new JsonObject
            {
                ["matmul_fp32_gflops"] = c.MatmulFp32Gflops, ["matmul_bf16_gflops"] = c.MatmulBf16Gflops,
                ["copy_gbps"] = c.CopyGbps, ["copy_convention"] = "(bytes read + bytes written) / s", ["read_gbps"] = c.ReadGbps,
                ["measured"] = "best of the bench's start and end",
                ["threads"] = c.Threads, ["matmul_size"] = c.MatmulSize, ["matmul_bf16_size"] = c.MatmulBf16Size, ["copy_bytes"] = c.CopyBytes, ["read_bytes"] = c.ReadBytes, ["best_of"] = c.Repeats,
            },
            ["model"] = new JsonObject { ["params"] = Params, ["weight_bytes"] = WeightBytes, ["dtype"] = "float32" },
            ["train_step"] = new JsonObject
            {
                ["mfu"] = t.Mfu, ["gflops"] = t.Gflops, ["step_s"] = t.BestSeconds, ["seq"] = t.Seq, ["tiles"] = t.Tiles,
                ["peak_rss_gb"] = t.PeakRssBytes / 1e9, ["lean"] = t.Lean, ["warmup_steps"] = Settings.TrainWarmup,
                ["lean_vs_plain"] = PlainTwin is { } p
                    ? new JsonObject
                    {
                        ["step_time_ratio"] = t.BestSeconds / p.BestSeconds, ["plain_step_s"] = p.BestSeconds,
                        ["plain_peak_rss_gb"] = p.PeakRssBytes / 1e9, ["plain_mfu"] = p.Mfu, ["loss_difference"] = Math.Abs(t.Loss - p.Loss),
                    }
                    : null,
                ["shapes"] = new JsonArray(Train.Select(TrainJson).ToArray<JsonNode?>()),
                ["bf16"] = Bf16Train is { } b
                    ? new JsonObject
                    {
                        ["step_s"] = b.BestSeconds, ["speedup_vs_fp32"] = t.BestSeconds / b.BestSeconds, ["mfu_of_bf16_peak"] = b.Mfu,
                        ["peak_rss_gb"] = b.PeakRssBytes / 1e9, ["loss"] = b.Loss, ["loss_difference"] = Math.Abs(b.Loss - t.Loss),
                        ["probe"] = Bf16Evidence,
                    }
                    : Bf16Evidence is null ? null : new JsonObject { ["probe"] = Bf16Evidence, ["used"] = false },
                ["breakdown"] = Breakdown() is { } parts
                    ? new JsonObject(parts.Select(p => KeyValuePair.Create(p.Part, (JsonNode?)new JsonObject { ["s"] = p.Seconds, ["gflops"] = p.Gflops })))
                    : null,
            },
            ["vision"] = new JsonObject
            {
                ["tiles_per_s"] = Vision.TilesPerSecond, ["gflops_per_tile"] = Vision.GflopsPerTile, ["gflops"] = Vision.Gflops,
                ["mfu"] = Vision.Mfu, ["tiles"] = Vision.Tiles,
            },
            ["decode"] = new JsonObject
            {
                ["kv_speedup"] = d.KvSpeedup, ["bandwidth_fraction"] = d.BandwidthFraction, ["bandwidth_fraction_median"] = d.BandwidthFractionMedian,
                ["context"] = d.Context,
                ["bytes_per_token"] = d.WeightBytesPerToken + d.KvBytesPerToken, ["read_gbps"] = d.ReadGbps,
                ["kernels_speedup"] = UnsplitDecode is { } u ? d.KvTokensPerSecond / u.KvTokensPerSecond : null,
                ["libtorch_tokens_per_s"] = UnsplitDecode?.KvTokensPerSecond,
                ["kernels_same_tokens"] = UnsplitDecode is { } v ? v.Generated.SequenceEqual(d.Generated) : null,
                ["stack_speedup"] = PerLayerDecode is { } pl ? d.KvTokensPerSecond / pl.KvTokensPerSecond : null,
                ["per_layer_tokens_per_s"] = PerLayerDecode?.KvTokensPerSecond,
                ["stack_same_tokens"] = PerLayerDecode is { } pt ? pt.Generated.SequenceEqual(d.Generated) : null,
                ["vs_llamacpp"] = Peers.Count > 0 ? new JsonObject(Peers.Select(p => KeyValuePair.Create(p.Type, (JsonNode?)p.SmvlRatio))) : null,
                ["llamacpp"] = Peers.Count > 0 ? new JsonArray(Peers.Select(p => (JsonNode?)new JsonObject
                {
                    ["type"] = p.Type, ["file_bytes"] = p.FileBytes, ["context"] = p.Context, ["tokens"] = p.Tokens,
                    ["tokens_per_s"] = p.TokensPerSecond, ["prefill_tokens_per_s"] = p.PrefillTokensPerSecond,
                    ["leading_tokens_equal"] = p.TokensEqual, ["smvl_tokens_per_s"] = p.SmvlTokensPerSecond, ["smvl_ratio"] = p.SmvlRatio,
                }).ToArray()) : null,
                ["llamacpp_error"] = PeerError,
                ["breakdown_ms"] = DecodeParts is { } dp
                    ? new JsonObject
                    {
                        ["token"] = dp.TokenMs, ["attention"] = dp.AttentionMs, ["mlp"] = dp.MlpMs, ["head"] = dp.HeadMs,
                        ["norms"] = dp.NormsMs, ["embed_rope"] = dp.EmbedRopeMs, ["overhead"] = dp.OverheadMs,
                    }
                    : null,
                ["contexts"] = new JsonArray(Decode.Select(DecodeJson).ToArray<JsonNode?>()),
            },
            ["resume"] = Resume is { } r
                ? new JsonObject
                {
                    ["startup_s"] = r.StartupSeconds, ["samples_read"] = r.SamplesRead, ["step"] = r.Step,
                    ["replay_s"] = r.ReplaySeconds, ["replay_samples_read"] = r.ReplaySamplesRead, ["speedup"] = r.Speedup,
                    ["rows"] = r.Rows, ["row_group_rows"] = r.RowGroupRows, ["image"] = $"{r.ImageWidth}x{r.ImageHeight} JPEG",
                    ["parquet_bytes"] = r.ParquetBytes, ["micro_batch"] = 1,
                }
                : null,
            ["memory"] = new JsonObject
            {
                ["frozen_params"] = Audit.FrozenParams, ["frozen_params_with_grad"] = Audit.FrozenWithGrad,
                ["trainable_params"] = Audit.TrainableParams, ["trainable_tensors"] = Audit.TrainableTensors,
                ["optimizer_states"] = Audit.OptimizerStates, ["adamw_state_bytes"] = Audit.OptimizerStateBytes,
                ["freeze_holds"] = Audit.Holds,
                ["peak_rss_bytes"] = new JsonObject(PeakRssByPhase.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            },
            ["extrapolation"] = new JsonObject
            {
                ["gpu"] = Settings.GpuName, ["gpu_peak_tflops"] = Settings.GpuPeakTflops, ["gpu_mfu"] = Settings.GpuMfu,
                ["rows"] = new JsonArray(Extrapolation.Select(r => (JsonNode?)new JsonObject
                {
                    ["run"] = r.Run, ["samples"] = r.Samples, ["seq"] = r.Seq, ["lean"] = r.Lean,
                    ["cpu_hours"] = r.CpuHours, ["gpu_hours"] = r.GpuHours,
                }).ToArray()),
            },
        };
    }

    private static JsonNode TrainJson(TrainStepResult r) => new JsonObject
    {
        ["seq"] = r.Seq, ["tiles"] = r.Tiles, ["lean"] = r.Lean, ["labelled"] = r.Labelled, ["step_s"] = r.BestSeconds,
        ["steps_s"] = new JsonArray(r.StepSeconds.Select(s => (JsonNode?)s).ToArray()),
        ["flops"] = new JsonObject
        {
            ["vision_fwd"] = r.Flops.VisionForward, ["connector_fwd"] = r.Flops.ConnectorForward,
            ["connector_bwd"] = r.Flops.ConnectorBackward, ["lm_fwd"] = r.Flops.LmForward, ["lm_bwd"] = r.Flops.LmBackward,
            ["total"] = r.Flops.Total,
        },
        ["gflops"] = r.Gflops, ["mfu"] = r.Mfu, ["loss"] = r.Loss, ["peak_rss_bytes"] = r.PeakRssBytes,
        ["kernel_time_fraction"] = r.KernelTimeFraction,
    };

    /// <summary>
    /// Where the headline shape's plain step time goes, from phases measured separately: the vision tower
    /// (tiles / tiles-per-second), the LM forward (recomputing a context of the same length, no
    /// grad), and the rest (head, loss, the whole backward, optimizer) by difference. Null when no
    /// decode context matches the step's length.
    /// </summary>
    public IReadOnlyList<(string Part, double Seconds, double Gflops)>? Breakdown()
    {
        var t = PlainTwin ?? HeadlineTrain;
        if (Decode.FirstOrDefault(d => d.Context == t.Seq) is not { } lm) return null;
        double vision = t.Tiles / Vision.TilesPerSecond, forward = 1 / lm.RecomputeTokensPerSecond;
        double rest = t.BestSeconds - vision - forward;
        double forwardFlops = Flops.LmForward(Settings.Model.TextConfig, t.Seq, 1);
        double restFlops = t.Flops.Total - t.Flops.VisionForward - forwardFlops;
        return [("vision_fwd", vision, Vision.Gflops), ("lm_fwd", forward, forwardFlops / forward / 1e9),
                ("head_loss_bwd_opt", rest, restFlops / rest / 1e9)];
    }

    private static JsonNode DecodeJson(DecodeResult r) => new JsonObject
    {
        ["context"] = r.Context, ["tokens"] = r.Tokens, ["kv_tokens_per_s"] = r.KvTokensPerSecond,
        ["recompute_tokens_per_s"] = r.RecomputeTokensPerSecond, ["kv_speedup"] = r.KvSpeedup,
        ["prefill_tokens_per_s"] = r.PrefillTokensPerSecond, ["weight_bytes_per_token"] = r.WeightBytesPerToken,
        ["kv_bytes_per_token"] = r.KvBytesPerToken, ["read_gbps"] = r.ReadGbps, ["read_median_gbps"] = r.ReadMedianGbps > 0 ? r.ReadMedianGbps : null,
        ["bound_tokens_per_s"] = r.BoundTokensPerSecond, ["token_ms"] = new JsonArray(r.TokenSeconds.Select(t => (JsonNode?)(t * 1e3)).ToArray()),
        ["bandwidth_fraction"] = r.BandwidthFraction, ["bandwidth_fraction_median"] = r.BandwidthFractionMedian, ["peak_rss_bytes"] = r.PeakRssBytes,
    };

    public void Save(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        File.WriteAllText(path, ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public string ToTable()
    {
        var c = Ceilings; var sb = new StringBuilder();
        void Line(string s) => sb.AppendLine(s);
        Line($"ceilings   fp32 matmul {c.MatmulFp32Gflops,7:F1} GFLOP/s   bf16 matmul {c.MatmulBf16Gflops,7:F1} GFLOP/s   copy {c.CopyGbps,6:F1} GB/s   read {c.ReadGbps,6:F1} GB/s ({c.ReadBytes / 1e9:F2} GB)   threads {c.Threads}");
        Line($"model      {Params / 1e6:F1}M params, {WeightBytes / 1e9:F2} GB fp32");
        Line("");
        Line($"{"train step",-12}{"seq",6}{"tiles",6}{"lean",6}{"labelled",9}{"s/step",9}{"TFLOP",8}{"GFLOP/s",9}{"MFU",7}{"peak RSS",10}");
        foreach (var r in Train)
            Line($"{"",-12}{r.Seq,6}{r.Tiles,6}{(r.Lean ? "yes" : "no"),6}{r.Labelled,9}{r.BestSeconds,9:F2}{r.Flops.Total / 1e12,8:F2}{r.Gflops,9:F1}{r.Mfu,7:P0}{Gb(r.PeakRssBytes),10}");
        if (PlainTwin is { } twin)
            Line($"{"",-12}lean (checkpointed, head in chunks) at seq {twin.Seq}: {HeadlineTrain.BestSeconds / twin.BestSeconds:F2}× the plain step time, peak RSS {Gb(HeadlineTrain.PeakRssBytes)} vs {Gb(twin.PeakRssBytes)}, " +
                 $"loss difference {Math.Abs(HeadlineTrain.Loss - twin.Loss):G3}");
        if (Bf16Train is { } b16)
            Line($"{"",-12}bf16 frozen modules at seq {b16.Seq}: {b16.BestSeconds:F2} s/step, {HeadlineTrain.BestSeconds / b16.BestSeconds:F2}× the fp32 lean step, " +
                 $"MFU {b16.Mfu:P0} of the bf16 peak, loss difference {Math.Abs(b16.Loss - HeadlineTrain.Loss):G3} ({Bf16Evidence})");
        else if (Bf16Evidence is not null)
            Line($"{"",-12}bf16 not used: {Bf16Evidence}");
        if (Breakdown() is { } parts)
            Line($"{"",-12}seq {HeadlineTrain.Seq} plain breakdown: " + string.Join(", ", parts.Select(p => $"{p.Part} {p.Seconds:F1} s at {p.Gflops:F0} GFLOP/s")) +
                 $"; kernel time {(PlainTwin ?? HeadlineTrain).KernelTimeFraction:P0} of CPU");
        Line($"{"vision",-12}{Vision.TilesPerSecond:F2} tiles/s, {Vision.Gflops:F1} GFLOP/s, MFU {Vision.Mfu:P0}");
        Line("");
        Line($"{"decode",-12}{"ctx",6}{"kv tok/s",10}{"recompute",11}{"speedup",9}{"MB/token",10}{"read GB/s",11}{"bound tok/s",13}{"of bound",10}{"medians",9}");
        foreach (var d in Decode)
            Line($"{"",-12}{d.Context,6}{d.KvTokensPerSecond,10:F2}{d.RecomputeTokensPerSecond,11:F3}{d.KvSpeedup,8:F1}×{(d.WeightBytesPerToken + d.KvBytesPerToken) / 1e6,10:F0}{d.ReadGbps,11:F1}{d.BoundTokensPerSecond,13:F2}{d.BandwidthFraction,10:P0}{d.BandwidthFractionMedian,9:P0}");
        Line($"{"",-12}(of bound: mean tokens/s against the read probe's best run; medians: the median token against the probe's median run)");
        if (UnsplitDecode is { } un)
            Line($"{"",-12}ctx {un.Context}: SmVL's decode kernels (row products, fused attention) {HeadlineDecode.KvTokensPerSecond / un.KvTokensPerSecond:F2}× libtorch's ops " +
                 $"({un.KvTokensPerSecond:F2} tok/s), same tokens: {(un.Generated.SequenceEqual(HeadlineDecode.Generated) ? "yes" : "NO")}");
        if (PerLayerDecode is { } pl)
            Line($"{"",-12}ctx {pl.Context}: the stack as one job {HeadlineDecode.KvTokensPerSecond / pl.KvTokensPerSecond:F2}× each layer on its own " +
                 $"({pl.KvTokensPerSecond:F2} tok/s), same tokens: {(pl.Generated.SequenceEqual(HeadlineDecode.Generated) ? "yes" : "NO")}");
        if (DecodeParts is { } dp)
            Line($"{"",-12}ctx {HeadlineDecode.Context}, each layer on its own, per token {dp.TokenMs:F1} ms: attention {dp.AttentionMs:F1}, MLP {dp.MlpMs:F1}, head {dp.HeadMs:F1}, " +
                 $"norms {dp.NormsMs:F1}, embedding+rope {dp.EmbedRopeMs:F1}, overhead {dp.OverheadMs:F1}");
        foreach (var p in Peers)
            Line($"{"llama.cpp",-12}{p.Type,-6} {p.Context,6} ctx {p.TokensPerSecond,8:F2} tok/s (SmVL {p.SmvlTokensPerSecond:F2}: {p.SmvlRatio:F2}×; best of {Settings.PeerRounds} rounds each), prefill {p.PrefillTokensPerSecond:F1} tok/s, " +
                 $"{p.FileBytes / 1e9:F2} GB, first {p.TokensEqual} of {p.Tokens + 1} tokens as SmVL's");
        if (PeerError is not null) Line($"{"llama.cpp",-12}did not run: {PeerError}");
        if (Resume is { } rs)
            Line($"{"resume",-12}at step {rs.Step}: {rs.StartupSeconds:F2} s to the first micro-batch seeking ({rs.SamplesRead} sample read) vs {rs.ReplaySeconds:F2} s replaying " +
                 $"({rs.ReplaySamplesRead} read), {rs.Speedup:F0}×; {rs.Rows} rows of {rs.ImageWidth}×{rs.ImageHeight} JPEGs, {rs.RowGroupRows} per row group, {rs.ParquetBytes / 1e6:F0} MB");
        Line("");
        Line($"memory     frozen params with .grad: {Audit.FrozenWithGrad}; optimizer states {Audit.OptimizerStates} for {Audit.TrainableTensors} trainable tensor(s) " +
             $"({Audit.TrainableParams / 1e6:F2}M params), AdamW state {Audit.OptimizerStateBytes / 1e6:F1} MB");
        Line($"           peak RSS: {string.Join(", ", PeakRssByPhase.Select(kv => $"{kv.Key} {Gb(kv.Value)}"))}");
        Line("");
        Line($"{"extrapolation",-14}{"samples",9}{"seq",6}{"lean",6}{"CPU hours",11}{"GPU hours",11}   (GPU: {Settings.GpuName} at {Settings.GpuMfu:P0} MFU)");
        foreach (var r in Extrapolation)
            Line($"{r.Run,-14}{r.Samples,9}{r.Seq,6}{(r.Lean ? "yes" : "no"),6}{r.CpuHours,11:F1}{r.GpuHours,11:F2}");
        Line($"headline   train_step.mfu {HeadlineTrain.Mfu:P1} and peak_rss_gb {HeadlineTrain.PeakRssBytes / 1e9:F2} (seq {HeadlineTrain.Seq}{(HeadlineTrain.Lean ? ", lean" : "")}); decode.kv_speedup {HeadlineDecode.KvSpeedup:F1}× and " +
             $"bandwidth_fraction {HeadlineDecode.BandwidthFraction:P0} (median token against median probe {HeadlineDecode.BandwidthFractionMedian:P0}; ctx {HeadlineDecode.Context}); " +
             (Resume is { } hr ? $"resume.startup_s {hr.StartupSeconds:F2} (step {hr.Step}); " : "") + $"wall {WallSeconds:F0} s");
        return sb.ToString();
    }

    private static string Gb(long? bytes) => bytes is { } b ? (b / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " GB" : "n/a";
}
