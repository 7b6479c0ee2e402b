using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Stitching;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Stitching;

public class StitcherTests
{
    [Fact]
    public void StitchedModelTakesVisionFromTheParentTextFromTheLmAndTheProcessorsImageId()
    {
        var model = StitchKit.Stitched(policy: null);
        Assert.Equal(StitchKit.ImageToken, model.Config.ImageTokenId);
        Assert.Equal(StitchKit.ImageToken, model.model.MergerImageTokenId);
        var lm = Pretrained.LoadCausalLM(StitchKit.LmDir);
        var parent = Pretrained.LoadSmolVLM(StitchKit.ParentDir);
        var ours = model.state_dict();
        foreach (var (k, v) in lm.state_dict())
            Assert.True(StitchKit.BitEqual(v, ours["model.text_model." + k["model.".Length..]]), k);
        foreach (var (k, v) in parent.state_dict().Where(kv => kv.Key.StartsWith("model.vision_model.")))
            Assert.True(StitchKit.BitEqual(v, ours[k]), k);
        var broken = StitchKit.Stitched(brokenWiring: true, policy: null);
        Assert.Equal(StitchKit.ParentImageToken, broken.model.MergerImageTokenId);
        Assert.Equal(StitchKit.ImageToken, broken.Config.ImageTokenId);
    }

    [Fact]
    public void SavedStitchedCheckpointReloadsBitIdentically()
    {
        var model = StitchKit.Stitched(seed: 123, policy: null);
        string dir = Fixtures.TempDir();
        Stitcher.Save(model, dir);
        var back = Pretrained.LoadSmolVLM(dir);

        var a = model.state_dict(); var b = back.state_dict();
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var k in a.Keys) Assert.True(StitchKit.BitEqual(a[k], b[k]), $"{k} differs after reload");

        Assert.Equal(model.Config.ToJson(), back.Config.ToJson());
        var lm = HfConfig.Load<TextConfig>(StitchKit.LmDir);
        var t = back.Config.TextConfig;
        Assert.Equal("qwen3", t.ModelType);
        Assert.Equal((lm.HiddenSize, lm.NumHiddenLayers, lm.NumAttentionHeads, lm.KeyValueHeads, lm.HeadDim, lm.IntermediateSize, lm.VocabSize, lm.RopeTheta, lm.TieWordEmbeddings),
                     (t.HiddenSize, t.NumHiddenLayers, t.NumAttentionHeads, t.KeyValueHeads, t.HeadDim, t.IntermediateSize, t.VocabSize, t.RopeTheta, t.TieWordEmbeddings));
        Assert.Equal(StitchKit.ImageToken, back.Config.ImageTokenId);
        Assert.Equal(lm.VocabSize, back.Config.VocabSize);
        Assert.Equal(new[] { 2 }, t.EosTokenIds);
        Assert.True(Stitcher.WiringIsIntact(back, StitchKit.ImageToken));

        using var batch = StitchKit.MakeBatch(5);
        using var _ = no_grad();
        model.eval();
        Assert.True(StitchKit.BitEqual(model.forward(batch.InputIds, batch.PixelValues, batch.AttentionMask),
                                       back.forward(batch.InputIds, batch.PixelValues, batch.AttentionMask)));
    }

    [Fact]
    public void FreezePoliciesTrainWhatTheyName()
    {
        var m = StitchKit.Stitched(policy: FreezePolicy.ConnectorOnly);
        Assert.Equal(new[] { "model.connector.modality_projection.proj.weight" }, m.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
        var head = StitchKit.Stitched(policy: FreezePolicy.ConnectorAndHead);
        Assert.NotNull(head.lm_head);
        Assert.Equal(new[] { "lm_head.weight", "model.connector.modality_projection.proj.weight" },
                     head.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).OrderBy(n => n, StringComparer.Ordinal));
        Assert.False(head.model.text_model.embed_tokens.weight!.requires_grad);
        var full = StitchKit.Stitched(policy: FreezePolicy.Full);
        Assert.All(full.named_parameters(), p => Assert.True(p.parameter.requires_grad));
        Assert.Throws<InvalidOperationException>(() => StitchKit.Stitched(policy: FreezePolicy.Lora));
        Assert.Equal(FreezePolicy.ConnectorAndHead, Freezing.Parse(Freezing.Name(FreezePolicy.ConnectorAndHead)));
    }
}

[CollectionDefinition("meta-device", DisableParallelization = true)]
public sealed class MetaDeviceCollection;

/// <summary>The real-size parameter table, built on the meta device (no memory for weights).</summary>
[Collection("meta-device")]
public class ParameterTableTests(ITestOutputHelper log)
{
    private static T OnMeta<T>(Func<T> build)
    {
        var before = get_default_device();
        set_default_device(device("meta"));
        try { return build(); }
        finally { set_default_device(before); }
    }

    private static long Count(nn.Module m) => m.parameters().Sum(p => p.numel());

    [Fact]
    public void RealPairCountsMatchTheBlog()
    {
        var qwen = OnMeta(() => new Qwen3ForCausalLM(TextConfig.Qwen3_0_6B));
        Assert.Equal("meta", qwen.model.embed_tokens.weight!.device.type.ToString().ToLowerInvariant());
        Assert.Equal(596_049_920, Count(qwen));

        var parent = new SmolVLMConfig
        {
            ImageTokenId = 49190, ScaleFactor = 4, VocabSize = 49280, TieWordEmbeddings = true,
            VisionConfig = VisionConfig.SmolVLM2_256M, TextConfig = TextConfig.SmolLM2_135M,
        };
        var config = Stitcher.StitchedConfig(parent, TextConfig.Qwen3_0_6B, new TextSide(151655, new[] { 151645 }, 151643));
        var model = OnMeta(() => new SmolVLMForConditionalGeneration(config));
        Assert.Equal(86_433_024, Count(model.model.vision_model));
        Assert.Equal(12_582_912, Count(model.model.connector));
        Assert.Equal(new long[] { 1024, 12288 }, model.model.connector.modality_projection.proj.weight!.shape);
        Assert.Equal(596_049_920, Count(model.model.text_model) + (model.lm_head is null ? 0 : Count(model.lm_head)));
        Assert.Null(model.lm_head);
        Freezing.Apply(model, FreezePolicy.ConnectorOnly);
        var table = Freezing.Table(model);
        long total = table.Sum(r => r.total), trainable = table.Sum(r => r.trainable);
        Assert.Equal(695_065_856, total);
        Assert.Equal(12_582_912, trainable);
        Assert.Equal("1.81", (100.0 * trainable / total).ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
        string summary = Freezing.Summary(model);
        log.WriteLine(summary);
        Assert.EndsWith("trainable params: 12.00M || all params: 662.87M || trainable%: 1.81", summary.Replace(',', '.'));
    }
}
