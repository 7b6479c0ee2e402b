using SmVL.Models;
using SmVL.Stitching;
using SmVL.Tests.Stitching;
using SmVL.Training;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// Activation checkpointing must change memory only: the loss and every trainable gradient equal
/// the plain path's, for each freeze policy (frozen stack, LoRA with dropout, everything trains).
/// </summary>
public class GradientCheckpointingTests
{
    private static (float loss, Dictionary<string, Tensor> grads) LossAndGrads(SmolVLMForConditionalGeneration model, Batch batch,
                                                                              bool checkpointing, long rngSeed)
    {
        Checkpointing(model, checkpointing);
        model.train();
        manual_seed(rngSeed);
        foreach (var p in model.parameters()) p.grad = null;
        using var loss = CausalLMLoss.Sum(model, batch);
        loss.backward();
        var grads = model.named_parameters().Where(p => p.parameter.requires_grad)
                         .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        Checkpointing(model, false);
        return (loss.item<float>(), grads);
    }

    /// <summary>Both stacks: the decoder and, where it trains, the vision encoder.</summary>
    private static void Checkpointing(SmolVLMForConditionalGeneration model, bool on) =>
        model.model.text_model.GradientCheckpointing = model.model.vision_model.GradientCheckpointing = on;

    private static void AssertSameAsPlainPath(SmolVLMForConditionalGeneration model, int expectedTrainables)
    {
        using var batch = StitchKit.MakeBatch(3, batch: 2, t: 16, pads: [0, 5]);   // padding: the masked attention path
        var (plainLoss, plain) = LossAndGrads(model, batch, checkpointing: false, rngSeed: 11);
        var (ckptLoss, ckpt) = LossAndGrads(model, batch, checkpointing: true, rngSeed: 11);
        Assert.Equal(expectedTrainables, plain.Count);
        Assert.Equal(plainLoss, ckptLoss);
        foreach (var (name, g) in plain)
        {
            Assert.True(g.abs().max().item<float>() > 0, $"{name}: the plain path's gradient is zero, the comparison would prove nothing");
            double diff = Fixtures.MaxAbsDiff(g, ckpt[name]);
            Assert.True(diff <= 1e-6 * Math.Max(1, g.abs().max().item<float>()), $"{name}: checkpointed gradient differs by {diff}");
        }
    }

    [Fact]
    public void ConnectorOnlyGradientsAreThoseOfThePlainPath() =>
        AssertSameAsPlainPath(StitchKit.Stitched(), expectedTrainables: 1);

    [Fact]
    public void FullFineTuneGradientsAreThoseOfThePlainPath()
    {
        var model = StitchKit.Stitched(policy: FreezePolicy.Full);
        AssertSameAsPlainPath(model, expectedTrainables: model.parameters().Count());
    }

    [Fact]
    public void LoraWithDropoutReplaysTheSameDropoutMasks()
    {
        var model = StitchKit.Stitched(policy: null);
        Lora.Apply(model, new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.3, Targets = LoraOptions.AllTargets, Seed = 1 });
        using (no_grad())
        {
            var gen = new Generator(5, CPU);
            foreach (var (_, a) in Lora.Adapters(model)) a.lora_B.weight!.copy_(randn(a.lora_B.weight!.shape, generator: gen).mul_(0.05));
        }
        Freezing.Apply(model, FreezePolicy.Lora);
        AssertSameAsPlainPath(model, expectedTrainables: 1 + 2 * 7 * 2);
    }

    [Fact]
    public void TheBackwardPassKeepsOneSetOfGradients()
    {
        // The recomputed layers' parameter gradients go straight into .grad; none may be left behind in
        // the caller's scope (autograd would then have accumulated a copy: twice the gradients' memory).
        var model = StitchKit.Stitched(policy: FreezePolicy.Full);
        Checkpointing(model, true);
        model.train();
        using var batch = StitchKit.MakeBatch(3, batch: 2, t: 16);
        using var scope = NewDisposeScope();
        var loss = CausalLMLoss.Sum(model, batch);
        var before = scope.DisposablesView.ToHashSet();
        loss.backward();
        long left = scope.DisposablesView.Where(d => !before.Contains(d)).OfType<Tensor>().Sum(t => t.NumberOfElements);
        long layerParameters = model.model.text_model.layers.Concat<TorchSharp.torch.nn.Module>(model.model.vision_model.encoder.layers)
            .SelectMany(l => l.parameters()).Sum(p => p.numel());
        Assert.True(model.model.text_model.layers[0].parameters().All(p => p.grad is not null), "no gradient reached the layers");
        Assert.True(left < layerParameters / 2, $"the backward pass left {left:N0} elements in the caller's scope; the layers have {layerParameters:N0} parameters");
    }

    [Fact]
    public void TrainingStepsAreThoseOfThePlainPath()
    {
        List<double> Run(bool checkpointing)
        {
            var model = StitchKit.Stitched();
            var options = new TrainOptions { Steps = 4, GradAccum = 2, EvalEvery = 0, SaveEvery = 0, Progress = false, GradientCheckpointing = checkpointing };
            using var trainer = new Trainer(model, options, Fixtures.TempDir()) { Tensorboard = false };
            Assert.Equal(checkpointing, model.model.text_model.GradientCheckpointing);
            Assert.Equal(checkpointing, model.model.vision_model.GradientCheckpointing);
            trainer.Run(new StitchKit.Source(seed: 9, pads: [0, 3]));
            return trainer.Losses;
        }
        Assert.Equal(Run(false), Run(true));
    }

    [Fact]
    public void EvaluationUnderNoGradIsUnchanged()
    {
        var model = StitchKit.Stitched();
        using var batch = StitchKit.MakeBatch(4);
        model.eval();
        using var _ = no_grad();
        using var plain = model.forward(batch.InputIds, batch.PixelValues, batch.AttentionMask);
        Checkpointing(model, true);
        using var ckpt = model.forward(batch.InputIds, batch.PixelValues, batch.AttentionMask);
        Assert.Equal(0.0, Fixtures.MaxAbsDiff(plain, ckpt));
    }
}
