using SmVL.Checkpoints;
using SmVL.Evaluation;
using SmVL.Experiments;
using SmVL.Export;
using SmVL.Models;
using SmVL.Tests.Evaluation;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Export;

/// <summary>`export --format hf`: the folder SmVL reads back gives the same logits (bf16: those of the weights rounded to bf16).</summary>
public class HfExportTests
{
    private static readonly long[] Prompt = [151644, 872, 198, 9707, 11, 1879, 0, 151645, 198, 151644, 77091, 198];

    [Fact]
    public void F32_export_reloads_with_identical_logits_and_the_processor_files()
    {
        var source = TinyVlmKit.SaveRandom(seed: 7);
        var outDir = Fixtures.TempDir();
        HfExport.Write(source, outDir, ScalarType.Float32);
        foreach (var file in new[] { "config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                     "chat_template.jinja", "preprocessor_config.json", "processor_config.json" })
            Assert.True(File.Exists(Path.Combine(outDir, file)), file);
        using var original = ModelFolder.Load(source);
        using var exported = ModelFolder.Load(outDir);
        Assert.Empty(exported.Notes);
        using var expected = FirstLogits(original.Model);
        using var actual = FirstLogits(exported.Model);
        Assert.True(Fixtures.Same(expected, actual));
        Directory.Delete(source, recursive: true);
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task Bf16_sharded_export_reloads_with_the_logits_of_bf16_rounded_weights()
    {
        var source = TinyVlmKit.SaveRandom(seed: 7);
        var outDir = Fixtures.TempDir();
        var error = new StringWriter();
        int code = await Cli.RunAsync(["export", "--model", source, "--format", "hf", "--out", outDir, "--dtype", "bf16", "--max-shard-size", "5MB"],
                                      CancellationToken.None, new StringWriter(), error);
        Assert.True(code == 0, error.ToString());
        var (weightMap, files) = CheckpointLoader.ReadIndex(Path.Combine(outDir, CheckpointLoader.IndexFile));
        Assert.True(files.Count >= 2, $"{files.Count} shard(s)");
        Assert.Equal("bfloat16", HfConfig.Load<SmolVLMConfig>(outDir).TorchDtype);
        using (var shard = SafetensorsFile.Open(Path.Combine(outDir, weightMap["model.text_model.embed_tokens.weight"])))
            Assert.Equal("BF16", shard.Info("model.text_model.embed_tokens.weight").DType);

        using var original = ModelFolder.Load(source);
        original.Model.to(bfloat16).to(float32);
        using var exported = ModelFolder.Load(outDir);
        using var expected = FirstLogits(original.Model);
        using var actual = FirstLogits(exported.Model);
        Assert.True(Fixtures.Same(expected, actual), $"max |Δ| {Fixtures.MaxAbsDiff(expected, actual)}");
        Directory.Delete(source, recursive: true);
        Directory.Delete(outDir, recursive: true);
    }

    [Theory]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("1GiB", 1L << 30)]
    [InlineData("4096", 4096L)]
    public void Shard_sizes_read_as_huggingface_hub_reads_them(string text, long bytes) => Assert.Equal(bytes, HfExport.ParseSize(text));

    [Fact]
    public async Task Gguf_options_are_refused_for_hf()
    {
        var error = new StringWriter();
        int code = await Cli.RunAsync(["export", "--model", Fixtures.TempDir(), "--format", "hf", "--out", Fixtures.TempDir(), "--quantize", "q8_0"],
                                      CancellationToken.None, new StringWriter(), error);
        Assert.Equal(2, code);
        Assert.Equal("smvl export: --quantize does not apply to --format hf", error.ToString().Trim());
    }

    private static Tensor FirstLogits(SmolVLMForConditionalGeneration model)
    {
        using var result = Generator.Generate(model, [Prompt], null, new() { MaxNewTokens = 1, EosTokenIds = [], ReturnLogits = true });
        return result.StepLogits![0].clone();
    }
}
