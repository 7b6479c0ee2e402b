using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using TorchSharp;
using SmVL.Training;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>
/// The whole bench in one process: ceilings first (so every ratio is against this process's own
/// peak), then the stitched model with random weights (HF's normal(0, 0.02) init, so activations
/// have realistic magnitudes and no denormals), connector-only training at each shape, the vision
/// tower alone, and decoding at each context (against a read probe beside it). CPU, float32.
/// </summary>
public static class Bench
{
    public static BenchReport Run(BenchSettings s)
    {
        var clock = Stopwatch.StartNew();
        int phases = 3 + s.TrainShapes.Count + s.DecodeContexts.Count + (s.PeerTypes.Count > 0 ? 1 : 0) + (s.Bf16 ? 1 : 0) + (s.ResumeStep > 0 ? 1 : 0), done = 0;
        var bar = new ProgressBar("bench", phases);
        var peaks = new Dictionary<string, long?>();
        void Done(string phase, long? peak) { peaks[phase] = peak; bar.Report(++done, phase); }

        MemoryProbe.ResetPeak();
        var ceilings = Ceilings.Measure(s.MatmulSize, s.CopyBytes, s.ReadProbeBytes, s.CeilingRepeats);
        Done("ceilings", MemoryProbe.PeakBytes);

        MemoryProbe.ResetPeak();
        using var model = Build(s);
        long parameters = model.parameters().Sum(p => p.numel());
        long weightBytes = model.parameters().Sum(p => p.numel() * p.ElementSize);
        Done("build", MemoryProbe.PeakBytes);

        var runDir = Path.Combine(Path.GetTempPath(), "smvl-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var train = new List<TrainStepResult>();
        try
        {
            foreach (var (seq, tiles, steps, lean) in s.TrainShapes)
            {
                var r = TrainStepBench.Run(model, seq, tiles, lean ? s.LossChunk : 0, warmup: s.TrainWarmup, steps,
                                           ceilings.MatmulFp32Gflops, runDir);
                train.Add(r);
                Done($"train_seq_{seq}" + (lean ? "_lean" : ""), r.PeakRssBytes);
            }
        }
        finally { if (Directory.Exists(runDir)) Directory.Delete(runDir, true); }

        var vision = VisionBench.Run(model.model.vision_model, s.VisionTiles, s.VisionRepeats, ceilings.MatmulFp32Gflops);
        Done("vision", vision.PeakRssBytes);

        // Each decode against the read bandwidth measured just before and after it (the best run of the two probes,
        // and their median run): a shared machine's bandwidth moves within minutes, so a bound from another phase of
        // the bench would measure the machine's state as much as the decoder.
        var decode = new List<DecodeResult>();
        foreach (var context in s.DecodeContexts)
        {
            var before = Ceilings.ReadSeconds(s.ReadProbeBytes, s.CeilingRepeats);
            var r = DecodeBench.Run(model, context, s.DecodeTokens, s.RecomputeRepeats, s.ReadProbeBytes / before.Min() / 1e9);
            var probes = before.Concat(Ceilings.ReadSeconds(s.ReadProbeBytes, s.CeilingRepeats)).ToArray();
            r = r with { ReadGbps = s.ReadProbeBytes / probes.Min() / 1e9, ReadMedianGbps = s.ReadProbeBytes / DecodeResult.Median(probes) / 1e9 };
            decode.Add(r);
            Done($"decode_ctx_{context}", r.PeakRssBytes);
        }

        var headline = decode.First(d => d.Context == s.HeadlineContext);

        // The headline context again with each layer on its own (the stack's phases as separate jobs and libtorch
        // ops): what running the whole stack as one job buys; the breakdown times that per-layer path's parts.
        DecodeStack.Enabled = false;
        DecodeResult perLayer;
        DecodeParts parts;
        try
        {
            perLayer = DecodeBench.Run(model, headline.Context, s.DecodeTokens, recomputeRepeats: 0, ceilings.ReadGbps);
            parts = DecodeBreakdown.Measure(model, headline.Context, s.DecodeTokens, 1 / perLayer.KvTokensPerSecond);
        }
        finally { DecodeStack.Enabled = true; }

        // The headline context again with libtorch's own one-row products: what the row split buys.
        RowParallelLinear.Enabled = false;
        DecodeResult unsplit;
        try { unsplit = DecodeBench.Run(model, headline.Context, s.DecodeTokens, s.RecomputeRepeats, ceilings.ReadGbps); }
        finally { RowParallelLinear.Enabled = true; }

        var (peers, peerError) = Peer(s, model, headline);
        if (s.PeerTypes.Count > 0) Done("llama.cpp", null);

        ResumeResult? resume = null;
        if (s.ResumeStep > 0)
        {
            MemoryProbe.ResetPeak();
            var workDir = Path.Combine(Path.GetTempPath(), "smvl-bench-resume-" + Guid.NewGuid().ToString("N")[..8]);
            try { resume = ResumeBench.Run(RealProcessor(s.Model), workDir, s.ResumeStep, s.ResumeImage.Width, s.ResumeImage.Height, s.ResumeRowGroup); }
            finally { if (Directory.Exists(workDir)) Directory.Delete(workDir, true); }
            Done("resume", MemoryProbe.PeakBytes);
        }

        // Last: the cast rounds the frozen weights for anything measured after it.
        TrainStepResult? bf16 = null;
        string? bf16Evidence = null;
        if (s.Bf16 && train.LastOrDefault(t => t.Lean) is { } leanStep && FrozenPrecision.Bf16IsFaster(CPU, out bf16Evidence))
        {
            FrozenPrecision.Cast(model, ScalarType.BFloat16);
            try { bf16 = TrainStepBench.Run(model, leanStep.Seq, leanStep.Tiles, s.LossChunk, warmup: 1, leanStep.StepSeconds.Length, ceilings.MatmulBf16Gflops, runDir); }
            finally { if (Directory.Exists(runDir)) Directory.Delete(runDir, true); }
        }
        if (s.Bf16) Done("train_bf16", bf16?.PeakRssBytes);

        // The ceilings again: a shared machine has slow phases, and a peak is the best seen.
        ceilings = ceilings.Max(Ceilings.Measure(s.MatmulSize, s.CopyBytes, s.ReadProbeBytes, s.CeilingRepeats));
        var c = ceilings;
        train = train.Select(t => t with { Mfu = t.Gflops / c.MatmulFp32Gflops }).ToList();
        if (bf16 is not null) bf16 = bf16 with { Mfu = bf16.Gflops / c.MatmulBf16Gflops };
        vision = vision with { Mfu = vision.Gflops / c.MatmulFp32Gflops };

        var extrapolation = Extrapolation.Table(s.Runs, train, s.GpuPeakTflops, s.GpuMfu);
        return new BenchReport(s, ceilings, parameters, weightBytes, train, vision, decode, extrapolation, peaks, clock.Elapsed.TotalSeconds)
        {
            Peers = peers, PeerError = peerError, Bf16Train = bf16, Bf16Evidence = bf16Evidence, UnsplitDecode = unsplit, PerLayerDecode = perLayer, DecodeParts = parts, Resume = resume,
        };
    }

    /// <summary>
    /// llama.cpp on the same model at the headline context. A peer that cannot run (no tokenizer
    /// set up, llama.cpp refusing the file) is reported, not fatal: the rest of the bench stands.
    /// </summary>
    private static (IReadOnlyList<PeerResult> Peers, string? Error) Peer(BenchSettings s, SmolVLMForConditionalGeneration model, DecodeResult headline)
    {
        if (s.PeerTypes.Count == 0) return ([], null);
        var workDir = Path.Combine(Path.GetTempPath(), "smvl-bench-gguf-" + Guid.NewGuid().ToString("N")[..8]);
        DecodeResult Again() => DecodeBench.Run(model, headline.Context, s.DecodeTokens, recomputeRepeats: 0, readGbps: 0);
        try { return (LlamaCppPeer.Run(model, headline, s.PeerTypes, get_num_threads(), workDir, Again, s.PeerRounds), null); }
        catch (Exception e) when (e is IOException or InvalidOperationException or InvalidDataException or UnauthorizedAccessException or LLama.Exceptions.RuntimeError)
        {
            return ([], $"{e.GetType().Name}: {e.Message}");
        }
        finally { if (Directory.Exists(workDir)) Directory.Delete(workDir, true); }
    }

    /// <summary>The real pair's processor: Qwen3's tokenizer, the Qwen3-SmVL template, SmolVLM2's image processor.</summary>
    internal static Processor RealProcessor(SmolVLMConfig config)
    {
        var tok = Tokenizer.Qwen3();
        return new Processor(tok, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageProcessorConfig.SmolVLM2), ImageTokens.Qwen3SmVL(tok),
                             config.ImageSeqLen, config.PadTokenId ?? 0);
    }

    /// <summary>The stitched model with random weights, connector-only (what the blog trains).</summary>
    public static SmolVLMForConditionalGeneration Build(BenchSettings s)
    {
        var model = new SmolVLMForConditionalGeneration(s.Model);
        WeightInit.HfNormal(model, seed: s.Seed);
        Stitcher.NewConnector(model, ConnectorInitKind.PyTorchDefault, s.Seed);
        Freezing.Apply(model, FreezePolicy.ConnectorOnly);
        return model;
    }
}
