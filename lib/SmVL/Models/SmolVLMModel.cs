using SmVL.Checkpoints;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// SmolVLM's body (HF `SmolVLMModel`): vision_model → connector → merge image features into the
/// image-token positions of the text embeddings → text_model. The id the merger looks for,
/// <see cref="MergerImageTokenId"/>, is explicit state: the stitcher sets it from the processor's
/// image token, and the broken-wiring ablation leaves it stale on purpose.
/// </summary>
public sealed class SmolVLMModel : nn.Module
{
    public readonly VisionTransformer vision_model;
    public readonly PixelShuffleConnector connector;
    public readonly Qwen3Model text_model;
    public SmolVLMConfig Config { get; internal set; }

    /// <summary>The token id whose positions receive image features (HF: top-level config.image_token_id).</summary>
    public long MergerImageTokenId { get; set; }

    public SmolVLMModel(SmolVLMConfig config) : base(nameof(SmolVLMModel))
    {
        Config = config;
        MergerImageTokenId = config.ImageTokenId;
        vision_model = new VisionTransformer(config.VisionConfig);
        connector = new PixelShuffleConnector(config.VisionConfig.HiddenSize, config.ScaleFactor, config.TextConfig.HiddenSize);
        text_model = new Qwen3Model(config.TextConfig);
        RegisterComponents();
    }

    public int ImageSeqLen => Config.ImageSeqLen;

    /// <summary>
    /// Image features (N_real, image_seq_len, text_hidden) for pixel values (B, N, 3, H, W).
    /// Images whose pixels are all exactly 0 are batch padding and are dropped, as in HF.
    /// </summary>
    public Tensor ImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var flat = RealImages(pixelValues);
        var hidden = vision_model.forward(flat.to(vision_model.post_layernorm.weight!.dtype));
        return connector.forward(hidden.to(connector.modality_projection.proj.weight!.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The images (B·N, 3, H, W) of pixel values (B, N, 3, H, W) or (N, 3, H, W) without the batch
    /// padding: images whose pixels are all exactly 0 (one is kept if all are).
    /// </summary>
    public static Tensor RealImages(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var flat = pixelValues.dim() == 5 ? pixelValues.flatten(0, 1) : pixelValues;
        var real = flat.ne(Scalars.Zero).flatten(1).any(1);
        if (!real.any().item<bool>()) real[0] = tensor(true);
        return (real.all().item<bool>() ? flat : flat[real]).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Write image features into the positions where input_ids == <see cref="MergerImageTokenId"/>,
    /// the k-th such position (batch-then-sequence order) getting row k % L of image k / L. With no
    /// such position nothing is written and the text embeddings pass through unchanged — and the
    /// features still receive a gradient, of exactly zero (the broken-wiring signature).
    /// </summary>
    public Tensor MergeImageFeatures(Tensor inputIds, Tensor inputsEmbeds, Tensor imageFeatures)
    {
        using var scope = NewDisposeScope();
        var mask = inputIds.eq(Scalars.Of(MergerImageTokenId));                                     // (B, T)
        long found = mask.sum().item<long>(), available = imageFeatures.shape[0] * imageFeatures.shape[1];
        if (found > 0)
        {
            var perSample = mask.sum(1);
            if (perSample.remainder(Scalars.Of(ImageSeqLen)).ne(Scalars.Zero).any().item<bool>())
                throw new ArgumentException($"image tokens per sample ({string.Join(", ", perSample.data<long>().ToArray())}) are not multiples of image_seq_len {ImageSeqLen}");
            if (found != available)
                throw new ArgumentException($"{found} image-token positions but {imageFeatures.shape[0]} images × {imageFeatures.shape[1]} features = {available}");
        }
        var features = imageFeatures.reshape(-1, imageFeatures.shape[2]).to(inputsEmbeds.dtype);
        var merged = inputsEmbeds.masked_scatter(mask.unsqueeze(-1), features);
        return merged.MoveToOuterDisposeScope();
    }

    /// <summary>Merged input embeddings; pixel values may be null (text-only or a decode step).</summary>
    public Tensor InputsEmbeds(Tensor inputIds, Tensor? pixelValues, Tensor? imageFeatures = null)
    {
        using var scope = NewDisposeScope();
        var embeds = text_model.embed_tokens.forward(inputIds);
        if (imageFeatures is null && pixelValues is not null) imageFeatures = ImageFeatures(pixelValues);
        if (imageFeatures is not null) embeds = MergeImageFeatures(inputIds, embeds, imageFeatures);
        return embeds.MoveToOuterDisposeScope();
    }
}
