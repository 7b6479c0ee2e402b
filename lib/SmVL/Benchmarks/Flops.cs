using SmVL.Checkpoints;

namespace SmVL.Benchmarks;

/// <summary>
/// Analytic FLOPs of one connector-only training step, split the way the work is done. Counted:
/// matrix products only (one multiply-add = 2 FLOPs); attention counts the causal half for the LM
/// (the work a causal kernel does) and the full square for the bidirectional vision tower.
/// Norms, softmax, RoPE and the optimizer are left out: they are memory-bound, and MFU asks how
/// much of the machine's matmul peak the step turns into useful products.
/// </summary>
/// <param name="VisionForward">frozen SigLIP tower on every tile (no backward: nothing upstream trains)</param>
/// <param name="ConnectorForward">pixel-shuffled features × the 12288→1024 projection</param>
/// <param name="ConnectorBackward">the weight gradient only (the vision features need none)</param>
/// <param name="LmForward">decoder stack on every position + the head on labelled positions only</param>
/// <param name="LmBackward">activation gradients only (frozen weights get none): 1× the linear layers and the head, 2× attention</param>
public sealed record StepFlops(double VisionForward, double ConnectorForward, double ConnectorBackward, double LmForward, double LmBackward)
{
    public double Total => VisionForward + ConnectorForward + ConnectorBackward + LmForward + LmBackward;
}

public static class Flops
{
    /// <summary>Patch embedding + encoder layers over all NumPatches patches of one tile.</summary>
    public static double VisionForwardPerTile(VisionConfig v)
    {
        double P = v.NumPatches, D = v.HiddenSize, I = v.IntermediateSize;
        double patchEmbed = 2 * P * (v.NumChannels * v.PatchSize * v.PatchSize) * D;
        double perLayer = 2 * P * 4 * D * D       // q, k, v, out projections
                        + 2 * P * 2 * D * I       // fc1, fc2
                        + 2 * 2 * P * P * D;      // QKᵀ and AV, every query × every key
        return patchEmbed + v.NumHiddenLayers * perLayer;
    }

    /// <summary>Decoder-layer projections (q, k, v, o, gate, up, down) per token, all layers.</summary>
    public static double LmLinearPerToken(TextConfig t)
    {
        double H = t.HiddenSize, q = t.NumAttentionHeads * t.HeadDim, kv = t.KeyValueHeads * t.HeadDim;
        double perLayer = 2 * H * (q + 2 * kv) + 2 * q * H + 3 * 2 * H * t.IntermediateSize;
        return t.NumHiddenLayers * perLayer;
    }

    /// <summary>QKᵀ and AV over the causal pairs of <paramref name="tokens"/> positions, all layers.</summary>
    public static double CausalAttention(TextConfig t, long tokens)
    {
        double pairs = tokens * (tokens + 1) / 2.0;
        return t.NumHiddenLayers * 2 * 2 * pairs * t.NumAttentionHeads * t.HeadDim;
    }

    /// <summary>The LM head on <paramref name="positions"/> hidden states.</summary>
    public static double Head(TextConfig t, long positions) => 2.0 * positions * t.HiddenSize * t.VocabSize;

    /// <summary>LM forward over <paramref name="tokens"/> positions with the head on <paramref name="headPositions"/> of them.</summary>
    public static double LmForward(TextConfig t, long tokens, long headPositions) =>
        tokens * LmLinearPerToken(t) + CausalAttention(t, tokens) + Head(t, headPositions);

    /// <summary>One connector-only step on one sample: <paramref name="tiles"/> tiles, <paramref name="tokens"/> positions, <paramref name="labelled"/> of them carrying loss.</summary>
    public static StepFlops ConnectorOnlyTrainStep(SmolVLMConfig c, long tokens, int tiles, long labelled)
    {
        var t = c.TextConfig;
        double connector = 2.0 * tiles * c.ImageSeqLen * c.ConnectorInputSize * t.HiddenSize;
        double lmBackward = tokens * LmLinearPerToken(t) + 2 * CausalAttention(t, tokens) + Head(t, labelled);
        return new StepFlops(tiles * VisionForwardPerTile(c.VisionConfig), connector, connector,
                             LmForward(t, tokens, labelled), lmBackward);
    }
}
