using System.Text.Json.Nodes;
using SmVL.Models;
using SmVL.Stitching;
using SmVL.Training;
using static TorchSharp.torch;

namespace SmVL.Tests.Stitching;

/// <summary>
/// Small stitched models and synthetic batches for the stitching/training tests. The "VLM parent"
/// is parity set A's smolvlm folder re-labelled with image_token_id 499 (a copy in a temp dir), the
/// LM is set A's qwen3 folder, and the processor side says the image token is 500: so correct wiring
/// needs the id swap, and broken wiring leaves the merger on 499.
/// </summary>
public static class StitchKit
{
    public const int ImageToken = 500, ParentImageToken = 499, Pad = 2, ImageSeqLen = 4, Vocab = 512;
    public static readonly TextSide Text = new(ImageToken, new[] { 2 }, Pad);

    private static readonly Lazy<string> _parent = new(() =>
    {
        var dir = Fixtures.TempDir();
        var config = JsonNode.Parse(File.ReadAllText(Fixtures.ParityA("smolvlm", "config.json")))!;
        config["image_token_id"] = ParentImageToken;
        config["text_config"]!["image_token_id"] = ParentImageToken;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        File.Copy(Fixtures.ParityA("smolvlm", "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        return dir;
    });

    /// <summary>The temp "VLM parent" folder (set A's smolvlm with image_token_id 499).</summary>
    public static string ParentDir => _parent.Value;
    public static string LmDir => Fixtures.ParityA("qwen3");

    public static SmolVLMForConditionalGeneration Stitched(bool brokenWiring = false, long seed = 7,
        ConnectorInitKind init = ConnectorInitKind.PyTorchDefault, FreezePolicy? policy = FreezePolicy.ConnectorOnly)
    {
        // Stitcher.Stitch's three steps, without a processor: the kit's processor side is just its image id.
        var model = Stitcher.ReplaceTextModel(ParentDir, LmDir, Text);
        Stitcher.NewConnector(model, init, seed);
        if (!brokenWiring) Stitcher.AlignImageTokenId(model, ImageToken);
        if (policy is { } p) Freezing.Apply(model, p);
        return model;
    }

    /// <summary>
    /// One synthetic sample row: [tok, tok, IMG×4, tok...] of length <paramref name="t"/>, the last
    /// <paramref name="pad"/> positions padding; labels = ids with image tokens and padding → −100.
    /// </summary>
    public static Batch MakeBatch(long seed, int batch = 2, int t = 16, int[]? pads = null, int imagesPerSample = 1)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator((ulong)(1000 + seed), CPU);
        var ids = randint(3, 400, new long[] { batch, t }, dtype: int64, generator: gen);
        var mask = ones(batch, t, dtype: int64);
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < imagesPerSample; i++) ids[b, (2 + i * (ImageSeqLen + 1))..(2 + i * (ImageSeqLen + 1) + ImageSeqLen)] = tensor((long)ImageToken);
            int pad = pads is null ? 0 : pads[b];
            if (pad > 0) { ids[b, (t - pad)..] = tensor((long)Pad); mask[b, (t - pad)..] = tensor(0L); }
        }
        var labels = ids.clone();
        labels[ids.eq(ImageToken)] = tensor(-100L);
        labels[mask.eq(0)] = tensor(-100L);
        var pixels = randn(new long[] { batch, imagesPerSample, 3, 32, 32 }, generator: gen);
        return new Batch(ids.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), pixels.MoveToOuterDisposeScope());
    }

    /// <summary>Micro-batch i is MakeBatch(seed + i) (or always the same batch when fixed).</summary>
    public sealed class Source(long seed = 0, bool fixedBatch = false, int batch = 2, int t = 16, int[]? pads = null) : IBatchSource
    {
        public int Calls { get; private set; }
        public Func<long, Batch, Batch>? Tamper { get; init; }

        public Batch Get(long microBatchIndex)
        {
            Calls++;
            var b = MakeBatch(fixedBatch ? seed : seed + microBatchIndex, batch, t, pads);
            return Tamper is null ? b : Tamper(microBatchIndex, b);
        }
    }

    public static TrainOptions Options(long steps, int accum = 1, double lr = 1e-3, string schedule = "constant", long warmup = 0) => new()
    {
        Steps = steps, GradAccum = accum, LearningRate = lr, Schedule = schedule, WarmupSteps = warmup,
        EvalEvery = 0, SaveEvery = 0, Progress = false,
    };

    public static Tensor ConnectorWeight(SmolVLMForConditionalGeneration m) => m.model.connector.modality_projection.proj.weight!;

    /// <summary>Same dtype, shape and bytes (bitwise: −0 ≠ +0, NaN payloads compared too).</summary>
    public static bool BitEqual(Tensor a, Tensor b)
    {
        if (a.dtype != b.dtype || !a.shape.SequenceEqual(b.shape)) return false;
        using var ca = a.detach().cpu().contiguous();
        using var cb = b.detach().cpu().contiguous();
        return ca.bytes.SequenceEqual(cb.bytes);
    }

    public static Dictionary<string, Tensor> Snapshot(nn.Module m) =>
        m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
}
