using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Training;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>
/// The head's logits in blocks of at most <see cref="CausalLMLoss.BlockBytes"/>: the loss and the
/// gradients of every row through the head at once, with Qwen3's vocabulary and more rows than one
/// block holds.
/// </summary>
public class CausalLMLossTests
{
    [Fact]
    public void LogitsInBlocksGiveTheLossAndGradientsOfOneBlock()
    {
        var config = TextConfig.Qwen3_0_6B with
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1, HeadDimOrNull = 8,
        };
        using var model = new Qwen3ForCausalLM(config);
        WeightInit.HfNormal(model, 0.02, 3);
        const int rows = 2, T = 61;
        var ids = randint(config.VocabSize, new long[] { rows, T }, generator: new Generator(11, CPU));
        var labels = ids.clone();
        labels[0, 5] = tensor(-100L);                                      // an unlabelled position in the first block
        using var batch = new Batch(ids, ones_like(ids), labels, null);
        var y = labels[.., 1..];
        var keep = y.ne(Scalars.IgnoreIndex);
        Assert.True(keep.sum().item<long>() * config.VocabSize * sizeof(float) > 2 * CausalLMLoss.BlockBytes, "the rows must take three blocks");

        Dictionary<string, Tensor> Gradients()
        {
            var grads = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());
            foreach (var p in model.parameters()) p.grad = null;
            return grads;
        }
        using var blocked = CausalLMLoss.Sum(model, batch);
        blocked.backward();
        var blockedGrads = Gradients();

        var h = model.Hidden(ids, null, batch.AttentionMask)[.., ..^1];
        using var once = nn.functional.cross_entropy(model.Logits(h[keep]).to(float32), y[keep], reduction: nn.Reduction.Sum);
        once.backward();
        var onceGrads = Gradients();

        Assert.Equal(once.item<float>(), blocked.item<float>(), once.item<float>() * 1e-6);
        foreach (var (name, g) in onceGrads)
        {
            double scale = g.abs().max().item<float>(), diff = Fixtures.MaxAbsDiff(g, blockedGrads[name]);
            Assert.True(diff <= 1e-5 * scale + 1e-9, $"{name}: blocked gradient differs by {diff} (max |g| {scale})");
        }
    }
}
