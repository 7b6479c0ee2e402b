using SmVL.Models;
using SmVL.Stitching;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Stitching;

public class LoraTests(ITestOutputHelper log)
{
    private static Tensor Logits(SmolVLMForConditionalGeneration m, Batch b)
    {
        using var _ = no_grad();
        m.eval();
        return m.forward(b.InputIds, b.PixelValues, b.AttentionMask);
    }

    [Fact]
    public void FreshAdaptersLeaveTheModelExactlyUnchanged()
    {
        var model = StitchKit.Stitched(policy: null);
        using var batch = StitchKit.MakeBatch(1);
        var before = Logits(model, batch);
        var wrapped = Lora.Apply(model, new LoraOptions { Rank = 4, Alpha = 8, Targets = LoraOptions.AllTargets, Seed = 1 });
        Assert.Equal(2 * 7, wrapped.Count);
        Assert.Equal(0.0, Fixtures.MaxAbsDiff(before, Logits(model, batch)));

        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.text_model.layers.0.self_attn.q_proj.weight", names);
        Assert.Contains("model.text_model.layers.0.self_attn.q_proj.lora_A.weight", names);
        Assert.Contains("model.text_model.layers.1.mlp.down_proj.lora_B.weight", names);
        Assert.Equal(2 * 7 * 2, names.Count(Freezing.IsLoraParameter));
        foreach (var (path, a) in Lora.Adapters(model))
        {
            Assert.Equal(new[] { 4L, a.InFeatures }, a.lora_A.weight!.shape);
            Assert.Equal(new[] { a.OutFeatures, 4L }, a.lora_B.weight!.shape);
            Assert.Equal(0.0, a.lora_B.weight!.abs().max().item<float>());
            double bound = 1 / Math.Sqrt(a.InFeatures);
            Assert.InRange(a.lora_A.weight!.abs().max().item<float>(), 0.8 * bound, bound);
            Assert.Equal(2.0, a.Scaling);
        }
    }

    [Fact]
    public void LoraPolicyTrainsConnectorAndAdaptersOnly()
    {
        var model = StitchKit.Stitched(policy: null);
        var frozenBefore = StitchKit.Snapshot(model);
        Lora.Apply(model, new LoraOptions { Rank = 2, Alpha = 4, Targets = new[] { "q_proj", "v_proj" } });
        Freezing.Apply(model, FreezePolicy.Lora);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(1 + 2 * 2 * 2, trainable.Count);
        Assert.All(trainable, n => Assert.True(n.StartsWith("model.connector.") || Freezing.IsLoraParameter(n), n));
        Assert.Contains(Freezing.Table(model), r => r.module == "lora" && r.trainable == r.total && r.total > 0);

        using var trainer = new Trainer(model, StitchKit.Options(10, lr: 1e-2), Fixtures.TempDir()) { Tensorboard = false };
        trainer.Run(new StitchKit.Source(fixedBatch: true));
        log.WriteLine(string.Join(" ", trainer.Losses.Select(l => l.ToString("F4"))));
        Assert.True(trainer.Losses[^1] < trainer.Losses[0]);
        Assert.True(Lora.Adapters(model).All(a => a.adapter.lora_B.weight!.abs().max().item<float>() > 0), "every B must have trained");
        var after = model.state_dict();
        foreach (var (k, v) in frozenBefore.Where(kv => !kv.Key.StartsWith("model.connector.")))
            Assert.True(StitchKit.BitEqual(v, after[k]), $"frozen {k} changed");
    }

    [Fact]
    public void MergeAndUnloadEqualsTheAdaptedModelAndSavesAsAPlainCheckpoint()
    {
        var model = StitchKit.Stitched(policy: null);
        Lora.Apply(model, new LoraOptions { Rank = 4, Alpha = 16, Targets = new[] { "all" }, Seed = 3 });
        using (no_grad())
            foreach (var (_, a) in Lora.Adapters(model))
                a.lora_B.weight!.copy_(randn(a.lora_B.weight!.shape, generator: new Generator(4, CPU)) * 0.05);
        using var batch = StitchKit.MakeBatch(2);
        var adapted = Logits(model, batch);
        var baseModel = StitchKit.Stitched(policy: null);
        Assert.True(Fixtures.MaxAbsDiff(adapted, Logits(baseModel, batch)) > 1e-2, "the adapters must matter for this test");

        Assert.Equal(2 * 7, Lora.MergeAndUnload(model));
        Assert.Empty(Lora.Adapters(model));
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains("lora_"));
        Assert.Equal(baseModel.state_dict().Keys.OrderBy(k => k), model.state_dict().Keys.OrderBy(k => k));
        double d = Fixtures.MaxAbsDiff(adapted, Logits(model, batch));
        log.WriteLine($"merged vs adapted max |Δlogit| = {d:E2}");
        Assert.True(d <= 1e-5, $"merged differs by {d}");

        string dir = Fixtures.TempDir();
        Stitcher.Save(model, dir);
        var back = Pretrained.LoadSmolVLM(dir);
        Assert.Equal(0.0, Fixtures.MaxAbsDiff(Logits(model, batch), Logits(back, batch)));
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Equal(LoraOptions.AllTargets, LoraOptions.Expand(new[] { "all" }));
        Assert.Equal(new[] { "q_proj", "v_proj" }, LoraOptions.Expand(new[] { "q_proj", "v_proj", "q_proj" }));
        Assert.Throws<ArgumentException>(() => LoraOptions.Expand(new[] { "out_proj" }));
        Assert.Throws<ArgumentException>(() => new LoraOptions { Rank = 0 }.Validate());
        var model = StitchKit.Stitched(policy: null);
        Lora.Apply(model, new LoraOptions());
        Assert.Throws<InvalidOperationException>(() => Lora.Apply(model, new LoraOptions()));
    }
}
