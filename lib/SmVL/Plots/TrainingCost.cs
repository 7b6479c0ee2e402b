using SmVL.Checkpoints;

namespace SmVL.Plots;

/// <summary>FLOPs of one connector-only training sample, by module (forward and backward together).</summary>
public sealed record SampleFlops(double Vision, double Connector, double Language, double Head)
{
    public double Total => Vision + Connector + Language + Head;
}

/// <summary>
/// What a training run costs, counted from the architecture (2 FLOPs per multiply-add of every
/// matmul; norms, activations and softmax ignored: they are a few percent). Connector-only
/// training decides what the backward pass must do:
/// <list type="bullet">
/// <item>vision tower: frozen and before the connector, so forward only;</item>
/// <item>connector: forward + weight gradient (its input needs no gradient): 2× forward;</item>
/// <item>language model and head: frozen, but the gradient has to flow back through them to reach
/// the connector: the input-gradient matmuls cost as much as the forward ones, and attention's
/// backward (dQ, dK, dV, dP) twice its forward.</item>
/// </list>
/// Every sample is padded to the full sequence length (the blog's collator pads to max_length), so
/// the text side costs the same whatever the question.
/// </summary>
public static class TrainingCost
{
    /// <param name="crops">tiles + global view per image (13 for a 3×4 grid: 640×480 and 1076×584 alike)</param>
    /// <param name="sequenceLength">tokens the language model reads per sample (max_length when padded)</param>
    public static SampleFlops PerSample(SmolVLMConfig c, int crops, int sequenceLength)
    {
        var v = c.VisionConfig;
        var t = c.TextConfig;
        double patches = (double)crops * v.NumPatches;
        // SigLIP layer per patch: q, k, v, o (4·d²) and the MLP (2·d·ff); bidirectional attention over all patches (QKᵀ and PV).
        double visionLinear = 2.0 * (4.0 * v.HiddenSize * v.HiddenSize + 2.0 * v.HiddenSize * v.IntermediateSize);
        double visionAttention = 2.0 * 2.0 * v.NumPatches * v.HiddenSize;
        double patchEmbed = 2.0 * v.NumChannels * v.PatchSize * v.PatchSize * v.HiddenSize;
        double vision = patches * (patchEmbed + v.NumHiddenLayers * (visionLinear + visionAttention));

        double imageTokens = (double)crops * c.ImageSeqLen;
        double connector = 2 * (2.0 * c.ConnectorInputSize * t.HiddenSize * imageTokens);

        // Qwen3 layer per token: q and o (d × heads·head_dim), k and v (d × kv_heads·head_dim), gate/up/down (3·d·ff);
        // causal attention: a token attends to T/2 keys on average, in QKᵀ and PV.
        double q = (double)t.NumAttentionHeads * t.HeadDim, kv = (double)t.KeyValueHeads * t.HeadDim;
        double lmLinear = 2.0 * (2 * t.HiddenSize * q + 2 * t.HiddenSize * kv + 3.0 * t.HiddenSize * t.IntermediateSize);
        double lmAttention = 2.0 * 2.0 * (sequenceLength / 2.0) * q;
        double language = (double)sequenceLength * t.NumHiddenLayers * (2 * lmLinear + 3 * lmAttention);

        double head = 2 * (2.0 * t.HiddenSize * t.VocabSize * sequenceLength);
        return new SampleFlops(vision, connector, language, head);
    }

    /// <summary>Wall-clock seconds for <paramref name="samples"/> samples at a sustained <paramref name="flopsPerSecond"/>.</summary>
    public static double Seconds(SampleFlops perSample, long samples, double flopsPerSecond) => perSample.Total * samples / flopsPerSecond;

    /// <summary>"20 min", "5.1 h", "12 days": a duration at the unit a reader would use.</summary>
    public static string Readable(double seconds) => seconds switch
    {
        < 120 => $"{seconds:F0} s",
        < 7200 => $"{seconds / 60:F0} min",
        < 3 * 86400 => $"{seconds / 3600:F1} h",
        _ => $"{seconds / 86400:F0} days",
    };
}
