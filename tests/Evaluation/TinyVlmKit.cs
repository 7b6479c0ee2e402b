using SmVL.Training;
using SmVL.TinyWorld;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using static TorchSharp.torch;

namespace SmVL.Tests.Evaluation;

/// <summary>
/// Small stitched models in HF folders with the real Qwen3 tokenizer and template (vocab 151936,
/// hidden 32, one layer each side, 32 px tiles of 8 px patches, pixel shuffle 2 → 4 image tokens),
/// and a few TinyWorld eval questions written as Cauldron parquet.
/// </summary>
public static class TinyVlmKit
{
    public const int ImageTokenId = 151655, PadTokenId = 151643, EosTokenId = 151645;

    public static SmolVLMConfig Config => new()
    {
        ImageTokenId = ImageTokenId, ScaleFactor = 2, TieWordEmbeddings = true, VocabSize = 151936, PadTokenId = PadTokenId,
        VisionConfig = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 2, ImageSize = 32, PatchSize = 8 },
        TextConfig = new TextConfig
        {
            ModelType = "qwen3", VocabSize = 151936, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 4,
            NumKeyValueHeads = 2, HeadDimOrNull = 8, TieWordEmbeddings = true, MaxPositionEmbeddings = 4096, RopeThetaOrNull = 1_000_000,
            EosTokenIdNode = JsonValue.Create(EosTokenId), PadTokenId = PadTokenId, TorchDtype = "float32",
        },
    };

    public static Processor Processor()
    {
        var tok = Tokenizer.Qwen3();
        return new Processor(tok, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageProcessorConfig.SmolVLM2 with { LongestEdge = 64, MaxImageSize = 32 }),
                             ImageTokens.Qwen3SmVL(tok), imageSeqLen: 4, padTokenId: PadTokenId);
    }

    /// <summary>A random model saved as an HF folder, with the processor's files unless <paramref name="withProcessor"/> is false.</summary>
    public static string SaveRandom(long seed = 3, bool withProcessor = true, Action<SmolVLMForConditionalGeneration>? edit = null)
    {
        var dir = Fixtures.TempDir();
        manual_seed(seed);
        using var model = new SmolVLMForConditionalGeneration(Config);
        edit?.Invoke(model);
        Stitcher.Save(model, dir);
        if (withProcessor) ModelFolder.SaveProcessor(Processor(), dir);
        return dir;
    }

    /// <summary>
    /// Make the model answer <paramref name="token"/> at every step, whatever it is shown: the text
    /// layers add nothing (o_proj, down_proj = 0), every embedding has +5 in channel 0 (the answer
    /// +6), and the final norm keeps only channel 0, so the tied head's logits are 5·h₀ for every
    /// token but 6·h₀ for the answer, with h₀ &gt; 0.
    /// </summary>
    public static Action<SmolVLMForConditionalGeneration> AlwaysAnswer(int token) => model =>
    {
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("o_proj.weight") || name.EndsWith("down_proj.weight")) p.zero_();
            else if (name == "model.text_model.norm.weight") { p.zero_(); p[0] = 1f; }
            else if (name == "model.text_model.embed_tokens.weight") { p[.., 0] = 5f; p[token, 0] = 6f; }
        }
    };

    private static readonly Lazy<string> _data = new(() =>
    {
        var dir = Fixtures.TempDir();
        TinyWorldExport.Write(dir, train: 0, eval: 40, seed: 11);
        return dir;
    });

    /// <summary>A Cauldron folder with 40 TinyWorld eval questions (tinyworld_zh / tinyworld_en, split eval).</summary>
    public static string DataDir => _data.Value;
}
