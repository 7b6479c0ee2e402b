using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using static TorchSharp.torch;

namespace SmVL.Evaluation;

/// <summary>
/// A stitched model ready to use: the weights, the processor that feeds them, HF-style decoding
/// defaults (the folder's stop and pad ids), and what had to be assumed because the folder lacked
/// it (<see cref="Notes"/>, one sentence each, for the user to see).
/// </summary>
public sealed record LoadedModel(SmolVLMForConditionalGeneration Model, Processor Processor, GenerationOptions Generation,
                                 IReadOnlyList<string> Notes) : IDisposable
{
    public void Dispose() => Model.Dispose();
}

/// <summary>
/// An HF SmolVLM folder (config.json + model.safetensors, plus the processor's files) as
/// <c>from_pretrained</c> reads it for the Qwen3-SmVL stitch: tokenizer.json (+ tokenizer_config.json),
/// chat_template.jinja, preprocessor_config.json and processor_config.json (image_seq_len).
/// <see cref="Stitching.Stitcher.Save"/> writes only the model half; <see cref="SaveProcessor"/>
/// writes the other half. Missing processor files fall back, each with a note: the cached Qwen3
/// tokenizer, the Qwen3-SmVL template, tiles of the vision encoder's input size.
/// </summary>
public static class ModelFolder
{
    public static LoadedModel Load(string dir, Device? device = null)
    {
        string configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"not a model folder: {configPath} not found", configPath);
        var notes = new List<string>();
        var config = HfConfig.Load<SmolVLMConfig>(dir);

        Tokenizer tokenizer;
        if (File.Exists(Path.Combine(dir, "tokenizer.json"))) tokenizer = Tokenizer.FromFile(dir);
        else
        {
            tokenizer = Tokenizer.Qwen3();
            notes.Add($"no tokenizer.json in {dir}: using the cached Qwen3 tokenizer ({tokenizer.Source})");
        }

        // Only the processor's own template: a tokenizer_config.json one is the text model's and knows no image parts.
        ChatTemplate template;
        if (File.Exists(Path.Combine(dir, "chat_template.jinja"))) template = ChatTemplate.FromFile(Path.Combine(dir, "chat_template.jinja"));
        else
        {
            template = ChatTemplate.Qwen3SmVL();
            notes.Add($"no chat_template.jinja in {dir}: using the Qwen3-SmVL template");
        }

        var imageConfig = ImageConfig(dir, config, notes);
        int imageSeqLen = ImageSeqLen(dir, config);
        var tokens = ImageTokens.Qwen3SmVL(tokenizer);
        if (tokens.ImageTokenId != config.ImageTokenId)
            throw new InvalidDataException($"{dir}/config.json: image_token_id {config.ImageTokenId} is not the tokenizer's {tokens.ImageToken} ({tokens.ImageTokenId}); the merger would never see the image");
        int pad = config.PadTokenId ?? config.TextConfig.PadTokenId
            ?? (tokenizer.Config?.PadToken is { } p ? tokenizer.TokenToId(p) : null)
            ?? throw new InvalidDataException($"{dir}: no pad_token_id in config.json and no pad_token in tokenizer_config.json");
        var eos = config.TextConfig.EosTokenIds;

        var model = Pretrained.LoadSmolVLM(dir, device: device);
        var processor = new Processor(tokenizer, template, new ImageProcessor(imageConfig), tokens, imageSeqLen, pad);
        var generation = new GenerationOptions
        {
            PadTokenId = pad,
            EosTokenIds = eos.Length > 0 ? eos.Select(e => (long)e).ToArray() : new GenerationOptions().EosTokenIds,
        };
        return new LoadedModel(model, processor, generation, notes);
    }

    /// <summary>
    /// Write the processor's half of the folder (what HF's processor.save_pretrained writes), so
    /// <see cref="Load"/> needs no fallback. The tokenizer files are copied from where the tokenizer
    /// was read; a tokenizer grown in memory (AddTokens) is refused, as the copy would lack its tokens.
    /// </summary>
    public static void SaveProcessor(Processor processor, string dir)
    {
        Directory.CreateDirectory(dir);
        var tok = processor.Tokenizer;
        if (!File.Exists(tok.Source)) throw new InvalidOperationException($"the tokenizer was not read from a file ({tok.Source}); cannot copy it");
        if (Tokenizer.FromFile(tok.Source).VocabSize != tok.VocabSize)
            throw new InvalidOperationException($"the tokenizer has tokens that {tok.Source} lacks (added in memory); save it as tokenizer.json first");
        File.Copy(tok.Source, Path.Combine(dir, "tokenizer.json"), overwrite: true);
        string tokConfig = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tok.Source))!, "tokenizer_config.json");
        if (File.Exists(tokConfig)) File.Copy(tokConfig, Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        File.WriteAllText(Path.Combine(dir, "chat_template.jinja"), processor.Template.Source);
        processor.Images.Config.Save(Path.Combine(dir, "preprocessor_config.json"));
        File.WriteAllText(Path.Combine(dir, "processor_config.json"),
            new JsonObject { ["image_seq_len"] = processor.ImageSeqLen, ["processor_class"] = "SmolVLMProcessor" }.ToJsonString() + "\n");
    }

    /// <summary>
    /// preprocessor_config.json, else SmolVLM2's settings with tiles of the vision encoder's input
    /// size and a longest edge of two tiles (the tiny world's layout: 2×2 tiles + the global image).
    /// </summary>
    private static ImageProcessorConfig ImageConfig(string dir, SmolVLMConfig config, List<string> notes)
    {
        string path = Path.Combine(dir, "preprocessor_config.json");
        if (File.Exists(path)) return ImageProcessorConfig.Load(path);
        int tile = config.VisionConfig.ImageSize;
        notes.Add($"no preprocessor_config.json in {dir}: tiles of {tile} px (the vision encoder's input), longest edge {2 * tile} px (the tiny world's layout)");
        return ImageProcessorConfig.SmolVLM2 with { MaxImageSize = tile, LongestEdge = 2 * tile };
    }

    /// <summary>processor_config.json's image_seq_len, else what the vision config implies ((image/patch)²/scale²).</summary>
    private static int ImageSeqLen(string dir, SmolVLMConfig config)
    {
        string path = Path.Combine(dir, "processor_config.json");
        int implied = config.ImageSeqLen;
        if (!File.Exists(path)) return implied;
        var stored = JsonNode.Parse(File.ReadAllText(path))?["image_seq_len"]?.GetValue<int>();
        if (stored is { } s && s != implied)
            throw new InvalidDataException($"{path}: image_seq_len {s}, but config.json implies {implied} image tokens per tile");
        return stored ?? implied;
    }
}
