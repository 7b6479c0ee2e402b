using SmVL.Checkpoints;
using SmVL.Stitching;

namespace SmVL.Benchmarks;

/// <summary>
/// What the bench measures and at which sizes. <see cref="Full"/> is the real architecture with
/// random weights (Qwen3-0.6B + SigLIP-B/16-512 + the 12288→1024 connector, ~2.8 GB in fp32);
/// <see cref="Quick"/> is the same machinery on a toy model, for tests.
/// </summary>
public sealed record BenchSettings
{
    public required SmolVLMConfig Model { get; init; }
    /// <summary>
    /// (sequence length, tiles, timed steps, lean): one 512×512 tile at 512, the blog's 17-tile image
    /// at 2048 (~9 TFLOP a step, so one timed step after the warm-up), plain and then
    /// lean — gradient checkpointing and the head in chunks of <see cref="LossChunk"/> rows, what the
    /// real experiments run — so the memory saving and its time cost are measured in one process.
    /// </summary>
    public IReadOnlyList<(long Seq, int Tiles, int Steps, bool Lean)> TrainShapes { get; init; } =
        [(512, 1, 2, false), (2048, 17, 1, false), (2048, 17, 1, true)];
    /// <summary>Labelled rows per chunk of the head + cross-entropy in lean steps (the real experiments' loss_chunk).</summary>
    public int LossChunk { get; init; } = 128;
    /// <summary>
    /// Untimed steps before each shape's timed ones. Every shape starts from a heap handed back to the OS
    /// (<see cref="MemoryProbe.ResetPeak"/>, so that its peak is its own), so its first step pays the page faults
    /// and allocator growth of a fresh process, which a training run pays once.
    /// </summary>
    public int TrainWarmup { get; init; } = 1;
    public int VisionTiles { get; init; } = 2;
    public int VisionRepeats { get; init; } = 2;
    public IReadOnlyList<long> DecodeContexts { get; init; } = [128, 512, 2048];
    public int DecodeTokens { get; init; } = 16;
    /// <summary>
    /// Also time the headline lean step with the frozen modules in bf16, when this machine's probe
    /// says bf16 is faster (<see cref="Stitching.FrozenPrecision"/>); measured last, as it rounds the weights.
    /// </summary>
    public bool Bf16 { get; init; } = true;
    /// <summary>GGUF types llama.cpp decodes the same model from, at the headline context (<see cref="LlamaCppPeer"/>); empty: no peer.</summary>
    public IReadOnlyList<string> PeerTypes { get; init; } = ["f32", "f16", "q8_0"];
    /// <summary>Rounds of llama.cpp and SmVL decoding in turn per peer type; the ratio is best against best.</summary>
    public int PeerRounds { get; init; } = 3;
    public int RecomputeRepeats { get; init; } = 1;
    /// <summary>
    /// Resume start-up (<see cref="ResumeBench"/>): the step resumed at (0: not measured), the generated
    /// images' size (a photo's, as in The Cauldron) and the parquet's rows per row group.
    /// </summary>
    public long ResumeStep { get; init; } = 1000;
    public (int Width, int Height) ResumeImage { get; init; } = (640, 480);
    public int ResumeRowGroup { get; init; } = 64;
    public int MatmulSize { get; init; } = 2048;
    public long CopyBytes { get; init; } = 256L << 20;
    public int CeilingRepeats { get; init; } = 5;
    public long Seed { get; init; } = 42;
    /// <summary>The blog's runs as samples = steps × grad_accum × micro_batch (experiments/cocoqa-200.json, full-60k.json).</summary>
    public IReadOnlyList<(string Name, long Samples)> Runs { get; init; } = [("cocoqa-200", 200 * 32), ("full-60k", 1920 * 32)];
    public string GpuName { get; init; } = "A100 bf16 (312 TFLOP/s dense)";
    public double GpuPeakTflops { get; init; } = 312;
    public double GpuMfu { get; init; } = 0.4;

    /// <summary>The real pair as the stitcher builds it (SmolVLM2-256M's tower and scale 4, Qwen3-0.6B, `&lt;|image_pad|&gt;`).</summary>
    public static BenchSettings Full => new()
    {
        Model = Stitcher.StitchedConfig(new SmolVLMConfig { ScaleFactor = 4, VisionConfig = VisionConfig.SmolVLM2_256M },
                                        TextConfig.Qwen3_0_6B, new TextSide(151655, [151645], 151643)),
    };

    /// <summary>Toy sizes (seconds): 16 patches per tile → 4 image tokens, a 2-layer 64-wide Qwen3.</summary>
    public static BenchSettings Quick => new()
    {
        Model = Stitcher.StitchedConfig(
            new SmolVLMConfig
            {
                ScaleFactor = 2,
                VisionConfig = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 2, PatchSize = 8, ImageSize = 32 },
            },
            TextConfig.Qwen3_0_6B with { VocabSize = 512, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDimOrNull = 16 },
            new TextSide(500, [2], 3)),
        TrainShapes = [(32, 1, 2, false), (64, 5, 2, false), (64, 5, 2, true)],
        LossChunk = 16,
        VisionTiles = 2,
        DecodeContexts = [16, 32, 64],
        DecodeTokens = 4,
        PeerTypes = [],                      // the toy vocabulary has no tokenizer to export
        ResumeStep = 20,
        ResumeImage = (64, 48),
        ResumeRowGroup = 4,
        MatmulSize = 128,
        CopyBytes = 4L << 20,
        CeilingRepeats = 2,
    };

    public bool IsQuick => Model.TextConfig.HiddenSize < 256;

    /// <summary>The decode context the headline figures are at: 512, or the middle of <see cref="DecodeContexts"/> without it.</summary>
    public long HeadlineContext => DecodeContexts.Contains(512) ? 512 : DecodeContexts[DecodeContexts.Count / 2];

    /// <summary>The read probe's buffer: what one decode step reads at <see cref="HeadlineContext"/> (weights and cache).</summary>
    public long ReadProbeBytes => DecodeBench.BytesPerToken(Model.TextConfig, HeadlineContext, sizeof(float));
}
