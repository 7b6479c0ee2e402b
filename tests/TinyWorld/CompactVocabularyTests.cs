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
}
