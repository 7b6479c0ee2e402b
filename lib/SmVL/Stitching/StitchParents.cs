using SmVL.Checkpoints;
using SmVL.Processing;

namespace SmVL.Stitching;

/// <summary>
/// What a stitch starts from: the VLM parent's folder (vision tower, pixel shuffle), the language
/// model's folder, the stitched processor (the LM's tokenizer, the Qwen3-SmVL chat template, the
/// VLM's image settings) and the ids the stitch hands the model.
/// </summary>
public sealed record StitchParents(Processor Processor, string VlmDir, string LmDir, TextSide Text)
{
    /// <summary>
    /// Real HF parents (SmolVLM2 + Qwen3): Qwen3's tokenizer (the LM folder's, else the npm copy),
    /// the Qwen3-SmVL template, the VLM's image processor config and image_seq_len; Qwen3's
    /// `&lt;|im_end|&gt;` ends generation and `&lt;|endoftext|&gt;` pads.
    /// </summary>
    public static StitchParents Qwen3SmVL(string vlmDir, string lmDir)
    {
        var tokenizer = File.Exists(Path.Combine(lmDir, "tokenizer.json")) ? Tokenizer.FromFile(lmDir) : Tokenizer.Qwen3();
        string pre = Path.Combine(vlmDir, "preprocessor_config.json");
        var images = File.Exists(pre) ? ImageProcessorConfig.Load(pre) : ImageProcessorConfig.SmolVLM2;
        int pad = tokenizer.TokenToId("<|endoftext|>") ?? throw new InvalidDataException($"{lmDir}: the tokenizer has no <|endoftext|> pad token");
        int eos = tokenizer.TokenToId("<|im_end|>") ?? throw new InvalidDataException($"{lmDir}: the tokenizer has no <|im_end|> (not a Qwen3 tokenizer?)");
        var processor = new Processor(tokenizer, ChatTemplate.Qwen3SmVL(), new ImageProcessor(images), ImageTokens.Qwen3SmVL(tokenizer),
            HfConfig.Load<SmolVLMConfig>(vlmDir).ImageSeqLen, pad);
        return new StitchParents(processor, vlmDir, lmDir, TextSide.From(processor, eos));
    }
}
