using SmVL.Models;
using SmVL.Stitching;
using SmVL.Tests.Stitching;
using SmVL.Training;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>
/// The chunked head + cross-entropy must equal the one-shot one: the same loss (up to summation
/// order) and the same gradients for whatever trains — connector, untied head, tied embedding.
/// </summary>
public class ChunkedCrossEntropyTests
{
    private static (double loss, Dictionary<string, Tensor> grads) LossAndGrads(SmolVLMForConditionalGeneration model, Batch batch, int chunk)
    {
        foreach (var p in model.parameters()) p.grad = null;
        using var loss = CausalLMLoss.Sum(model, batch, chunk);
        loss.backward();
        return (loss.item<float>(), model.named_parameters().Where(p => p.parameter.requires_grad)
                                         .ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
    }

    [Theory]
    [InlineData(FreezePolicy.ConnectorOnly, 3)]
    [InlineData(FreezePolicy.ConnectorAndHead, 4)]
    [InlineData(FreezePolicy.Full, 5)]
    [InlineData(FreezePolicy.ConnectorOnly, 1000)]      // one chunk holds every row
    public void LossAndGradientsEqualTheOneShotHead(FreezePolicy policy, int chunk)
    {
        var model = StitchKit.Stitched(policy: policy);
        using var batch = StitchKit.MakeBatch(5, batch: 2, t: 16, pads: [0, 4]);
        Assert.True(batch.LabelledTokens > chunk || chunk == 1000, "the batch must need several chunks");
        var (plainLoss, plain) = LossAndGrads(model, batch, chunk: 0);
        var (chunkedLoss, chunked) = LossAndGrads(model, batch, chunk);
        Assert.Equal(plainLoss, chunkedLoss, plainLoss * 1e-6);
        Assert.Equal(plain.Keys.Order(), chunked.Keys.Order());
        if (policy == FreezePolicy.ConnectorAndHead) Assert.Contains("lm_head.weight", plain.Keys);
        foreach (var (name, g) in plain)
        {
            double scale = g.abs().max().item<float>(), diff = Fixtures.MaxAbsDiff(g, chunked[name]);
            Assert.True(diff <= 1e-5 * scale + 1e-7, $"{name}: chunked gradient differs by {diff} (max |g| {scale})");
        }
    }

    /// <summary>Counts the head's passes over the rows of an LM it wraps.</summary>
    private sealed class CountingHead(ICausalLM inner) : ICausalLM
    {
        public int Calls;
        public int NumLayers => inner.NumLayers;
        public Tensor Forward(Tensor inputIds, Tensor? attentionMask, KvCache? cache, Tensor? positionIds, Tensor? pixelValues) =>
            inner.Forward(inputIds, attentionMask, cache, positionIds, pixelValues);
        public Tensor Hidden(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask) => inner.Hidden(inputIds, pixelValues, attentionMask);
        public Tensor Logits(Tensor hidden) { Calls++; return inner.Logits(hidden); }
        public Tensor HeadWeight => inner.HeadWeight;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheHeadRunsOncePerChunkForLossAndGradients(bool gradients)
    {
        var lm = new CountingHead(StitchKit.Stitched(policy: FreezePolicy.ConnectorAndHead));
        using var gen = new TorchSharp.torch.Generator(3, CPU);
        using var hidden = randn(new long[] { 7, lm.HeadWeight.shape[1] }, generator: gen).requires_grad_();
        using var labels = randint(0, lm.HeadWeight.shape[0], new long[] { 7 }, dtype: int64, generator: gen);
        using (var grad = gradients ? enable_grad() : no_grad())
        using (var loss = ChunkedCrossEntropy.Sum(lm, hidden, labels, chunk: 3))
        {
            Assert.Equal(3, lm.Calls);
            Assert.Equal(gradients, loss.requires_grad);
            if (gradients) loss.backward();
        }
        Assert.Equal(3, lm.Calls);
        Assert.Equal(gradients, hidden.grad is not null);
        Assert.Equal(gradients, lm.HeadWeight.grad is not null);
    }

    [Fact]
    public void TrainingWithChunksAndCheckpointingFollowsThePlainRun()
    {
        List<double> Run(TrainOptions o)
        {
            using var trainer = new Trainer(StitchKit.Stitched(), o, Fixtures.TempDir()) { Tensorboard = false };
            trainer.Run(new StitchKit.Source(seed: 2, pads: [0, 3]));
            return trainer.Losses;
        }
        var plain = new TrainOptions { Steps = 5, GradAccum = 2, EvalEvery = 0, SaveEvery = 0, Progress = false, LearningRate = 1e-2 };
        var lean = Run(plain with { LossChunk = 3, GradientCheckpointing = true });
        var reference = Run(plain);
        for (int i = 0; i < reference.Count; i++) Assert.Equal(reference[i], lean[i], reference[i] * 1e-5);
    }

    [Fact]
    public void ANegativeChunkIsRejected() =>
        Assert.Contains(new TrainOptions { LossChunk = -1 }.Problems(), p => p.Contains("loss_chunk"));
}
