using SmVL.Checkpoints;
using SmVL.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Stitching;

/// <summary>What the text side of the stitch needs to know: one image-token id and the stop ids.</summary>
/// <param name="ImageTokenId">the id the processor writes for image features (Qwen3: `&lt;|image_pad|&gt;` 151655)</param>
/// <param name="EosTokenIds">ids that end generation (Qwen3: `&lt;|im_end|&gt;` 151645)</param>
public sealed record TextSide(int ImageTokenId, int[] EosTokenIds, int? PadTokenId);

/// <summary>
/// The blog's surgery as code. (1) The processor/template swap is done by Processing (image
/// tokens and chat template from the new tokenizer); (2) <see cref="ReplaceTextModel"/> builds the
/// stitched model: the parent VLM's vision tower, the new LM's decoder and head, and — in one
/// place — every image-token id, vocab size and eos the model reads; (3) <see cref="NewConnector"/>
/// sizes and initialises the fresh connector (vision_hidden·scale² → text_hidden).
/// </summary>
public static class Stitcher
{
    /// <summary>The stitched config: parent's vision tower and scale, the LM's text config, the new ids.</summary>
    public static SmolVLMConfig StitchedConfig(SmolVLMConfig parent, TextConfig lm, TextSide text) => parent with
    {
        ImageTokenId = text.ImageTokenId,
        VocabSize = lm.VocabSize,
        PadTokenId = text.PadTokenId,
        TieWordEmbeddings = lm.TieWordEmbeddings,
        TextConfig = lm with { EosTokenIdNode = System.Text.Json.Nodes.JsonValue.Create(text.EosTokenIds[0]), PadTokenId = text.PadTokenId },
    };

    /// <summary>
    /// Build the stitched model from two HF folders, loading tensors straight from the files (no
    /// second in-memory copy of either parent): `model.vision_model.*` from the VLM parent,
    /// `model.*` of the LM into `model.text_model.*` (and `lm_head` when untied). The connector is
    /// left for <see cref="NewConnector"/>.
    /// </summary>
    /// <param name="brokenWiring">leave the merger looking for the parent's image-token id (the blog's bug)</param>
    public static SmolVLMForConditionalGeneration ReplaceTextModel(string vlmParentDir, string lmDir, TextSide text,
        bool brokenWiring = false, ScalarType? dtype = null)
    {
        var parent = HfConfig.Load<SmolVLMConfig>(vlmParentDir);
        var lm = HfConfig.Load<TextConfig>(lmDir);
        var config = StitchedConfig(parent, lm, text);
        var model = new SmolVLMForConditionalGeneration(config);
        if (dtype is { } d) model.to(d);
        CheckpointLoader.LoadInto(model, vlmParentDir, new LoadOptions
        {
            SourcePrefix = "model.vision_model.", TargetPrefix = "model.vision_model.",
            TargetFilter = name => name.StartsWith("model.vision_model."),
        });
        CheckpointLoader.LoadInto(model, lmDir, new LoadOptions
        {
            SourcePrefix = "model.", TargetPrefix = "model.text_model.",
            TargetFilter = name => name.StartsWith("model.text_model."),
        });
        if (!config.HeadTied)
            CheckpointLoader.LoadInto(model, lmDir, new LoadOptions { SourcePrefix = "lm_head.", TargetPrefix = "lm_head.", TargetFilter = n => n.StartsWith("lm_head.") });
        if (brokenWiring) model.model.MergerImageTokenId = parent.ImageTokenId;
        return model;
    }

    /// <summary>Step 3: a fresh connector Linear (vision_hidden·scale² → text_hidden), initialised as asked.</summary>
    /// <param name="samplePixels">for <see cref="ConnectorInitKind.MatchEmbeddingNorm"/>: tiles (N, 3, H, W) or a processor batch (B, N, 3, H, W)</param>
    public static void NewConnector(SmolVLMForConditionalGeneration model, ConnectorInitKind init, long seed, Tensor? samplePixels = null)
    {
        Tensor? sampleHidden = null;
        if (init == ConnectorInitKind.MatchEmbeddingNorm)
        {
            if (samplePixels is null) throw new ArgumentException("MatchEmbeddingNorm needs sample pixel values");
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            sampleHidden = model.model.vision_model.forward(SmolVLMModel.RealImages(samplePixels)).MoveToOuterDisposeScope();
        }
        ConnectorInit.Apply(model.model.connector, init, seed, model.model.text_model.embed_tokens.weight, sampleHidden);
        sampleHidden?.Dispose();
    }

    /// <summary>True when the merger will find the processor's image tokens (the wiring check).</summary>
    public static bool WiringIsIntact(SmolVLMForConditionalGeneration model) =>
        model.model.MergerImageTokenId == model.Config.ImageTokenId;

    /// <summary>
    /// Save as an HF SmolVLM folder whose config describes the real text model (the reference's
    /// saved config still described SmolLM2 and could not be reloaded).
    /// </summary>
    public static void Save(SmolVLMForConditionalGeneration model, string dir, long? maxShardBytes = null)
    {
        Directory.CreateDirectory(dir);
        model.Config.Save(Path.Combine(dir, "config.json"));
        CheckpointLoader.Save(model, dir, maxShardBytes);
    }
}
