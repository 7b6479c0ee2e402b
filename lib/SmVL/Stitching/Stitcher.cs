using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Processing;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Stitching;

/// <summary>What the text side of the stitch needs to know: one image-token id and the stop ids.</summary>
/// <param name="ImageTokenId">the id the processor writes for image features (Qwen3: `&lt;|image_pad|&gt;` 151655)</param>
/// <param name="EosTokenIds">ids that end generation (Qwen3: `&lt;|im_end|&gt;` 151645)</param>
public sealed record TextSide(int ImageTokenId, int[] EosTokenIds, int? PadTokenId)
{
    /// <summary>The processor's image and pad ids, and the LM's stop id.</summary>
    public static TextSide From(Processor processor, int eosTokenId) => new(processor.ImageTokenId, new[] { eosTokenId }, processor.PadTokenId);
}

/// <summary>How <see cref="Stitcher.Stitch"/> builds the new connector, and whether it skips the id alignment.</summary>
/// <param name="BrokenWiring">skip step 3, as the blog's first run did: the merger keeps the parent's image-token id</param>
/// <param name="SamplePixels">for <see cref="ConnectorInitKind.MatchEmbeddingNorm"/>: tiles (N, 3, H, W) or a processor batch (B, N, 3, H, W)</param>
public sealed record StitchOptions(ConnectorInitKind ConnectorInit, long Seed, bool BrokenWiring = false, Tensor? SamplePixels = null);

/// <summary>
/// The blog's surgery as code, three steps called in order by <see cref="Stitch"/> (the processor,
/// with the new tokenizer's image tokens and chat template, is built before by Processing):
/// (1) <see cref="ReplaceTextModel"/>: the parent VLM's vision tower, the new LM's decoder and head;
/// (2) <see cref="NewConnector"/>: a fresh connector sized from the two configs
/// (vision_hidden·scale² → text_hidden); (3) <see cref="AlignImageTokenId"/>: the merger looks for
/// the image-token id the processor writes. The broken-wiring ablation skips step 3.
/// </summary>
public static class Stitcher
{
    /// <summary>The three steps: replace the text model, fit a new connector, align the image-token id (skipped for the broken wiring).</summary>
    public static SmolVLMForConditionalGeneration Stitch(string vlmParentDir, string lmDir, Processor processor, TextSide text, StitchOptions options)
    {
        var model = ReplaceTextModel(vlmParentDir, lmDir, text);
        NewConnector(model, options.ConnectorInit, options.Seed, options.SamplePixels);
        if (!options.BrokenWiring) AlignImageTokenId(model, processor.ImageTokenId);
        return model;
    }

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
    /// Step 1. Build the stitched model from two HF folders, loading tensors straight from the files
    /// (no second in-memory copy of either parent): `model.vision_model.*` from the VLM parent,
    /// `model.*` of the LM into `model.text_model.*` (and `lm_head` when untied). The config
    /// (the outer model's) takes the text side's ids; the merger (the inner model's) still looks
    /// for the parent's image-token id, as the reference's inner model did: step 3 changes it.
    /// </summary>
    public static SmolVLMForConditionalGeneration ReplaceTextModel(string vlmParentDir, string lmDir, TextSide text, ScalarType? dtype = null)
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
        model.model.MergerImageTokenId = parent.ImageTokenId;
        return model;
    }

    /// <summary>
    /// Step 2: a fresh connector Linear, vision_hidden·scale² → text_hidden (step 1 built it from the
    /// stitched config's <see cref="SmolVLMConfig.ConnectorInputSize"/> and the new LM's width; SmolVLM2 +
    /// Qwen3-0.6B: 768·4² = 12288 → 1024), initialised as asked.
    /// </summary>
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

    /// <summary>
    /// Step 3: the merger writes image features where the processor writes its image token. The
    /// blog's bug was this step left out: the id was changed on the outer model's config only, so no
    /// image feature reached the LM. Refuses an id the stitched config does not name.
    /// </summary>
    /// <param name="processorImageTokenId">the id the processor writes (<see cref="Processor.ImageTokenId"/>)</param>
    public static void AlignImageTokenId(SmolVLMForConditionalGeneration model, int processorImageTokenId)
    {
        if (model.Config.ImageTokenId != processorImageTokenId)
            throw new InvalidOperationException($"the stitched config's image_token_id is {model.Config.ImageTokenId} but the processor writes {processorImageTokenId}: stitch with the processor's text side");
        model.model.MergerImageTokenId = processorImageTokenId;
    }

    /// <summary>True when the merger looks for the image-token id the processor writes (the wiring check).</summary>
    public static bool WiringIsIntact(SmolVLMForConditionalGeneration model, int processorImageTokenId) =>
        model.model.MergerImageTokenId == processorImageTokenId;

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
