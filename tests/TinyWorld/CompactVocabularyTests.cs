using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.TinyWorld;
using SmVL.Training;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.TinyWorld;

/// <summary>
/// The compact-vocabulary pretraining trick is only sound if the exported full-vocabulary model is
/// the compact one: same log-probabilities on used tokens, one shared logit for all unused ones.
/// </summary>
public class CompactVocabularyTests
{
    private static readonly TextConfig Config = new()
    {
        ModelType = "qwen3", VocabSize = 50, HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1,
        NumAttentionHeads = 2, NumKeyValueHeads = 1, HeadDimOrNull = 8, TieWordEmbeddings = true, RmsNormEps = 1e-6,
    };

    [Fact]
    public void ExportedModelHasTheCompactModelsLogProbabilities()
    {
        var vocabulary = new CompactVocabulary(new long[] { 20, 3, 9, 7, 3 }, 50);
        Assert.Equal(new long[] { 3, 7, 9, 20 }, vocabulary.Used);
        using var compact = new CompactVocabularyLM(Config, vocabulary);
        WeightInit.HfNormal(compact, 0.5, 3);
        using var full = vocabulary.Export(compact.lm, Config);

        var ids = tensor(new long[] { 3, 9, 7, 20, 9, 3 }).reshape(1, 6);
        using var _ = no_grad();
        var batch = vocabulary.Map(new Batch(ids, ones_like(ids), ids, null));
        Assert.Equal(new long[] { 0, 2, 1, 3, 2, 0 }, batch.InputIds.data<long>().ToArray());

        var compactLogProbs = compact.Logits(compact.Hidden(batch.InputIds, null, null)).log_softmax(-1);
        var fullLogits = full.forward(ids);
        var fullLogProbs = fullLogits.log_softmax(-1);
        var used = tensor(vocabulary.Used.ToArray());
        Assert.True(fullLogProbs.index_select(-1, used).sub(compactLogProbs[.., .., ..4]).abs().max().item<float>() < 1e-5);
        // Every unused token has the rest row's logit; together they carry the compact rest probability.
        var unused = tensor(Enumerable.Range(0, 50).Where(i => !vocabulary.Used.Contains(i)).Select(i => (long)i).ToArray());
        var unusedLogits = fullLogits.index_select(-1, unused);
        Assert.True(unusedLogits.sub(unusedLogits[.., .., ..1]).abs().max().item<float>() < 1e-6);   // one row, up to kernel rounding
        Assert.True(fullLogProbs.index_select(-1, unused).logsumexp(-1).sub(compactLogProbs[.., .., 4]).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void LabelsKeepIgnoreIndexAndUnknownIdsFallToTheRestRow()
    {
        var vocabulary = new CompactVocabulary(new long[] { 5, 6 }, 10);
        var ids = tensor(new long[] { 5, 6, 8 }).reshape(1, 3);
        var labels = tensor(new long[] { -100, 6, 8 }).reshape(1, 3);
        var b = vocabulary.Map(new Batch(ids, ones_like(ids), labels, null));
        Assert.Equal(new long[] { 0, 1, 2 }, b.InputIds.data<long>().ToArray());
        Assert.Equal(new long[] { -100, 1, 2 }, b.Labels.data<long>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CompactVocabulary(new long[] { 10 }, 10));
    }

    /// <summary>
    /// Word noise: only the listed ids' embeddings move, by about Std of their RMS per dimension; only while
    /// training; and a batch gets the same noise on every replica (it is seeded by the batch's ids), which
    /// is what keeps side-by-side micro-batches bitwise equal to sequential ones.
    /// </summary>
    [Fact]
    public void WordNoiseMovesOnlyTheListedWordsOnlyWhileTrainingAndIsTheSameOnEveryReplica()
    {
        var vocabulary = new CompactVocabulary(Enumerable.Range(0, 12).Select(i => (long)i), 50);
        using var a = new CompactVocabularyLM(Config, vocabulary);
        using var b = new CompactVocabularyLM(Config, vocabulary);
        WeightInit.HfNormal(a, 0.5, 3);
        WeightInit.HfNormal(b, 0.5, 3);
        foreach (var m in new[] { a, b }) m.InputNoise = (new long[] { 4, 5 }, 0.5);
        var ids = tensor(Enumerable.Range(0, 3200).Select(i => (long)(i % 12)).ToArray()).reshape(32, 100);
        using var _ = no_grad();
        var clean = a.lm.Embed(ids);
        var noisyA = a.Embed(ids);
        var noisyB = b.Embed(ids);
        Assert.True(Same(noisyA, noisyB));
        var word = ids.eq(4L).logical_or(ids.eq(5L));
        var moved = noisyA.sub(clean).abs().amax(-1).gt(0.0);
        Assert.True(Same(moved, word));
        // Per sequence, the noise's RMS relative to the words' RMS is that sequence's strength: uniform in 0…1 (2·0.5).
        var strengths = Enumerable.Range(0, 32).Select(i =>
        {
            var w = word[i];
            return noisyA[i].sub(clean[i])[w].square().mean().sqrt().div(clean[i][w].square().mean().sqrt()).item<float>();
        }).ToArray();
        Assert.All(strengths, x => Assert.InRange(x, 0f, 1.1f));
        Assert.InRange(strengths.Average(), 0.35f, 0.65f);
        Assert.True(strengths.Min() < 0.25f && strengths.Max() > 0.75f, $"strengths {strengths.Min()}…{strengths.Max()} do not spread over 0…1");
        Assert.False(Same(a.Embed(ids.flip(1)).sub(a.lm.Embed(ids.flip(1))), noisyA.sub(clean).flip(1)));   // another batch, other noise
        a.eval();
        Assert.True(Same(a.Embed(ids), clean));
        Assert.True(Same(a.Hidden(ids, null, null), a.lm.Hidden(ids, null, null)));
    }

    private static bool Same(Tensor x, Tensor y) => x.shape.SequenceEqual(y.shape) && x.eq(y).all().item<bool>();
}
