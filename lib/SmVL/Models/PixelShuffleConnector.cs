using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// SmolVLM's connector (HF `SmolVLMConnector`): pixel shuffle trades sequence for channels
/// (1024 patches × 768 → 64 tokens × 12288 for scale 4), then one bias-free Linear projects into
/// the text model's width (`modality_projection.proj`). This Linear is what the blog re-initialises
/// and trains.
/// </summary>
public sealed class PixelShuffleConnector : nn.Module<Tensor, Tensor>
{
    public readonly ModalityProjection modality_projection;
    public int ScaleFactor { get; }

    public PixelShuffleConnector(int visionHidden, int scaleFactor, int textHidden) : base(nameof(PixelShuffleConnector))
    {
        ScaleFactor = scaleFactor;
        modality_projection = new ModalityProjection(visionHidden * scaleFactor * scaleFactor, textHidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return modality_projection.proj.forward(PixelShuffle(x, ScaleFactor)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// (B, seq, D) → (B, seq/s², D·s²) in HF's exact order: output token (r/s, c/s) holds the s×s
    /// block with the row offset as the outer and the column offset as the inner channel index.
    /// A naive reshape gives a different (wrong) order.
    /// </summary>
    public static Tensor PixelShuffle(Tensor x, int s)
    {
        using var scope = NewDisposeScope();
        long B = x.shape[0], seq = x.shape[1], D = x.shape[2];
        long side = (long)Math.Sqrt(seq);
        if (side * side != seq) throw new ArgumentException($"pixel shuffle needs a square patch grid, got {seq} patches");
        if (side % s != 0) throw new ArgumentException($"patch grid side {side} is not divisible by scale factor {s}");
        var y = x.reshape(B, side, side, D)
                 .reshape(B, side, side / s, D * s)       // (B, h, w/s, D·s)
                 .permute(0, 2, 1, 3)                      // (B, w/s, h, D·s)
                 .reshape(B, side / s, side / s, D * s * s)
                 .permute(0, 2, 1, 3)                      // (B, h/s, w/s, D·s²)
                 .reshape(B, seq / (s * s), D * s * s);
        return y.MoveToOuterDisposeScope();
    }
}

/// <summary>HF `SmolVLMSimpleMLP`: just the projection Linear (no bias, no activation).</summary>
public sealed class ModalityProjection : nn.Module
{
    public readonly Linear proj;

    public ModalityProjection(int inFeatures, int outFeatures) : base(nameof(ModalityProjection))
    {
        proj = nn.Linear(inFeatures, outFeatures, hasBias: false);
        RegisterComponents();
    }
}
