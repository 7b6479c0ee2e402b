using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.TinyWorld;

/// <summary>
/// Pretraining a small LM that owns Qwen3's full 151,936-row vocabulary, at the cost of the few
/// hundred tokens its corpus uses. Every unused token shares one embedding row ("rest"). A full
/// model whose unused rows are equal keeps them equal under training, and its softmax equals that
/// of a compact model over (used tokens + rest) whose rest logit carries ln(#unused); so we train
/// the compact model (the head over 151,936 rows cost ~90% of a step) and
/// <see cref="Export"/> scatters it into a real-size HF Qwen3 checkpoint that computes exactly the
/// same logits on used tokens and never prefers one unused token over another.
/// </summary>
public sealed class CompactVocabulary
{
    public IReadOnlyList<long> Used { get; }
    public int FullSize { get; }
    /// <summary>Compact index of the shared row of every unused token.</summary>
    public int Rest => Used.Count;
    public int CompactSize => Used.Count + 1;
    private readonly Tensor _table;   // full id → compact id

    public CompactVocabulary(IEnumerable<long> usedIds, int fullSize)
    {
        Used = usedIds.Distinct().Order().ToArray();
        FullSize = fullSize;
        if (Used.Count == 0 || Used[0] < 0 || Used[^1] >= fullSize) throw new ArgumentOutOfRangeException(nameof(usedIds), $"token ids must lie in [0, {fullSize})");
        var table = Enumerable.Repeat((long)Rest, fullSize).ToArray();
        for (int i = 0; i < Used.Count; i++) table[Used[i]] = i;
        _table = tensor(table);
    }

    /// <summary>The batch in compact ids (−100 labels stay).</summary>
    public Batch Map(Batch b)
    {
        var labels = b.Labels.ne(Scalars.IgnoreIndex);
        return new Batch(_table[b.InputIds], b.AttentionMask, where(labels, _table[b.Labels.clamp_min(Scalars.Zero)], b.Labels), b.PixelValues);
    }

    /// <summary>Batches of <paramref name="source"/> in compact ids.</summary>
    public IBatchSource Map(IBatchSource source) => new Mapped(this, source);

    private sealed class Mapped(CompactVocabulary v, IBatchSource source) : IBatchSource
    {
        public Batch Get(long i)
        {
            var b = source.Get(i);
            var mapped = v.Map(b);
            b.InputIds.Dispose(); b.Labels.Dispose();   // mask and pixels live on in the mapped batch
            return mapped;
        }
    }

    /// <summary>The compact model's weights in a full-vocabulary model of <paramref name="full"/>'s shape.</summary>
    public Qwen3ForCausalLM Export(Qwen3ForCausalLM compact, TextConfig full)
    {
        if (full.VocabSize != FullSize) throw new ArgumentException($"full config has vocab {full.VocabSize}, vocabulary maps {FullSize}");
        var model = new Qwen3ForCausalLM(full);
        using var _ = no_grad();
        var source = compact.state_dict();
        foreach (var (name, p) in model.named_parameters())
        {
            var w = source[name];
            p.copy_(name.EndsWith("embed_tokens.weight") || name == "lm_head.weight" ? w[_table] : w);
        }
        return model;
    }
}

/// <summary>
/// The compact model as the trainer sees it: logits over (used tokens + rest), with ln(#unused)
/// added to the rest logit so the loss is the full-vocabulary model's loss.
/// </summary>
public sealed class CompactVocabularyLM : nn.Module, ICausalLM
{
    public readonly Qwen3ForCausalLM lm;
    private readonly Tensor _restOffset;

    public CompactVocabularyLM(TextConfig full, CompactVocabulary vocabulary) : base(nameof(CompactVocabularyLM))
    {
        lm = new Qwen3ForCausalLM(full with { VocabSize = vocabulary.CompactSize });
        var offset = zeros(vocabulary.CompactSize);
        offset[vocabulary.Rest] = tensor(Math.Log(vocabulary.FullSize - vocabulary.Used.Count));
        _restOffset = offset;
        RegisterComponents();
    }

    /// <summary>
    /// While training, Gaussian noise is added to the embeddings of these compact ids: per dimension, its
    /// standard deviation is the embedding's own RMS times a strength drawn per sequence, uniformly from 0 to
    /// 2·Std (mean Std), so the model reads words both barely and far moved. Drawn from a generator seeded by
    /// the batch's ids, so a batch gets the same noise on any thread or replica (and each time the data order
    /// brings it back).
    /// </summary>
    public (long[] Ids, double Std)? InputNoise { get; set; }

    public int NumLayers => lm.NumLayers;

    public Tensor Hidden(Tensor inputIds, Tensor? pixelValues, Tensor? attentionMask)
    {
        if (pixelValues is not null) throw new ArgumentException("a text-only model takes no pixel values");
        using var scope = NewDisposeScope();
        return lm.model.forward(Embed(inputIds), attentionMask).MoveToOuterDisposeScope();
    }

    /// <summary>The input embeddings, with <see cref="InputNoise"/> added while training.</summary>
    public Tensor Embed(Tensor inputIds)
    {
        if (!training || InputNoise is not { } noise) return lm.Embed(inputIds);
        using var scope = NewDisposeScope();
        var embeds = lm.Embed(inputIds);
        long seed = inputIds.mul(Scalars.Arange(1, inputIds.numel() + 1, device: inputIds.device).view(inputIds.shape)).sum().item<long>();
        using var generator = new Generator((ulong)seed, inputIds.device);
        var rms = embeds.detach().pow(Scalars.Two).mean(new long[] { -1 }, keepdim: true).sqrt_();
        var at = isin(inputIds, tensor(noise.Ids, device: inputIds.device)).unsqueeze(-1).to(embeds.dtype);
        var draw = randn(embeds.shape, generator: generator, dtype: embeds.dtype, device: embeds.device);
        var strength = rand(new long[] { embeds.shape[0], 1, 1 }, generator: generator, dtype: embeds.dtype, device: embeds.device)
            .mul_(Scalars.Of(2 * noise.Std));
        return embeds.add(draw.mul_(rms).mul_(at).mul_(strength), Scalars.One).MoveToOuterDisposeScope();
    }

    public Tensor Logits(Tensor hidden) => lm.Logits(hidden).add(_restOffset, Scalars.One);
    public Tensor HeadWeight => lm.HeadWeight;
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, KvCache? cache, Tensor? positionIds, Tensor? pixelValues) =>
        ((ICausalLM)lm).Forward(inputIds, attentionMask, cache, positionIds, pixelValues).add(_restOffset, Scalars.One);
}
