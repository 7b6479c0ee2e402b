using SmVL.Training;
using SmVL.TinyWorld;
using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Models;
using SmVL.Processing;

namespace SmVL.Tests;

/// <summary>
/// The real checkpoints' shapes without their weights: SmolVLM2-256M- and Qwen3-0.6B-shaped HF folders
/// with random weights (HF's normal(0, 0.02) init), and tiny-world questions laid out as a Cauldron
/// subset. For tests of the real run's path at real size (~3.4 GB on disk).
/// </summary>
public static class FullSizeCheckpoints
{
    /// <summary>SmolVLM2-256M's shapes (SigLIP-B/16-512, pixel shuffle 4, SmolLM2-135M text), one tile per image to keep tests short.</summary>
    public static void WriteSmolVLM2(string dir)
    {
        var config = new SmolVLMConfig
        {
            ImageTokenId = 49190, ScaleFactor = 4, VocabSize = 49280, TieWordEmbeddings = true,
            VisionConfig = VisionConfig.SmolVLM2_256M, TextConfig = TextConfig.SmolLM2_135M,
        };
        using var model = new SmolVLMForConditionalGeneration(config);
        WeightInit.HfNormal(model, seed: 1);
        Directory.CreateDirectory(dir);
        config.Save(Path.Combine(dir, "config.json"));
        CheckpointLoader.Save(model, dir);
        (ImageProcessorConfig.SmolVLM2 with { DoImageSplitting = false }).Save(Path.Combine(dir, "preprocessor_config.json"));
    }

    /// <summary>Qwen3-0.6B's shapes; with <paramref name="withTokenizer"/> also its tokenizer files (the npm copy of the real ones), as the Hub folder has them.</summary>
    public static void WriteQwen3(string dir, bool withTokenizer = false)
    {
        var config = TextConfig.Qwen3_0_6B with { TorchDtype = "float32" };
        using var model = new Qwen3ForCausalLM(config);
        WeightInit.HfNormal(model, seed: 2);
        Directory.CreateDirectory(dir);
        config.Save(Path.Combine(dir, "config.json"));
        CheckpointLoader.Save(model, dir);
        if (!withTokenizer) return;
        string npm = Path.GetDirectoryName(Tokenizer.Qwen3().Source)!;
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(npm, file), Path.Combine(dir, file));
    }

    /// <summary>Tiny-world Chinese questions (<paramref name="trainRows"/> train, one eval) as the_cauldron's <paramref name="subset"/> under <paramref name="root"/>.</summary>
    public static void WriteCauldronSubset(string root, string subset, int trainRows, int seed)
    {
        string tmp = root + ".export";
        TinyWorldExport.Write(tmp, trainRows, 1, seed);
        Directory.CreateDirectory(root);
        Directory.Move(Path.Combine(tmp, "tinyworld_zh"), Path.Combine(root, subset));
        Directory.Delete(tmp, true);
    }
}
