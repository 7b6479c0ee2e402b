using SmVL.Evaluation;
using SmVL.Experiments;
using SmVL.Export;
using SmVL.Generation;
using SmVL.Processing;
using SmVL.Tests.Evaluation;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Export;

/// <summary>
/// One small random stitched model (TinyVlmKit: the real Qwen3 tokenizer, hidden 32) exported as
/// f32 and f16 GGUF + mmproj, and the f16 text quantized to q8_0 by llama.cpp; SmVL's own greedy
/// decoding of 20 prompts (each alone, 6 new tokens, no stop ids) is the reference.
/// </summary>
public sealed class GgufExportFixture : IDisposable
{
    public const int NewTokens = 6;

    /// <summary>Plain text and chat-formatted prompts in English and Chinese, with digits, spaces and special tokens.</summary>
    public static readonly string[] Prompts =
    [
        "Hello", "The cat sat on the mat.", "图中有什么动物？", "What colour is the square?", "1 + 1 = 2, 10 * 10 = 100",
        "<|im_start|>user\nWhat is in the picture?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\n使用中文回答所有问题。<|im_end|>\n<|im_start|>user\n图中有几个圆？<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
        "  leading spaces and    runs   of spaces", "naïve café — déjà vu", "def f(x):\n    return x ** 2\n",
        "红色的三角形在左边。", "A B C D E F G", "tokens\n\n\nwith blank lines", "emoji 🙂 and symbols ©®", "Qwen3-SmVL stitches SigLIP to Qwen3.",
        "<|im_start|>user\nHow many?<|im_end|>\n", "UPPER lower MiXeD", "https://example.com/a?b=c", "蓝色的圆形在哪里？", "The end.",
    ];

    public string ModelDir { get; } = TinyVlmKit.SaveRandom(seed: 5);
    public string OutDir { get; } = Fixtures.TempDir();
    public GgufFiles F32 { get; }
    public GgufFiles F16 { get; }
    /// <summary>SmVL's tokens of each prompt.</summary>
    public long[][] PromptIds { get; }
    /// <summary>SmVL's greedy tokens and (steps, vocab) float32 logits per prompt.</summary>
    public (long[] Tokens, float[][] Logits)[] Reference { get; }

    public GgufExportFixture()
    {
        F32 = GgufExport.Write(ModelDir, OutDir, GgmlType.F32);
        F16 = GgufExport.Write(ModelDir, OutDir, GgmlType.F16, quantize: "q8_0", threads: 2);
        using var loaded = ModelFolder.Load(ModelDir);
        PromptIds = Prompts.Select(p => loaded.Processor.Tokenizer.Encode(p).Select(i => (long)i).ToArray()).ToArray();
        var options = loaded.Generation with { MaxNewTokens = NewTokens, EosTokenIds = [], ReturnLogits = true };
        Reference = PromptIds.Select(ids =>
        {
            using var result = Generator.Generate(loaded.Model, [ids], null, options);
            using var logits = result.StepLogits![0];
            return (result.Tokens[0], Enumerable.Range(0, NewTokens).Select(s => logits[s].data<float>().ToArray()).ToArray());
        }).ToArray();
    }

    public void Dispose()
    {
        Directory.Delete(ModelDir, recursive: true);
        Directory.Delete(OutDir, recursive: true);
    }
}

/// <summary>llama.cpp (LLamaSharp 0.30, CPU) reads what the GGUF export wrote, and decodes as SmVL does.</summary>
public class GgufExportTests(GgufExportFixture kit, ITestOutputHelper log) : IClassFixture<GgufExportFixture>
{
    [Fact]
    public void Llama_cpp_tokenizes_the_prompts_as_SmVL_does()
    {
        using var llama = LlamaCppGenerator.Load(kit.F32.Text);
        for (int i = 0; i < GgufExportFixture.Prompts.Length; i++)
            Assert.Equal(kit.PromptIds[i], llama.Tokenize(GgufExportFixture.Prompts[i]));
    }

    [Fact]
    public void F32_gguf_greedy_tokens_equal_SmVLs_on_20_prompts()
    {
        using var llama = LlamaCppGenerator.Load(kit.F32.Text);
        int equal = 0;
        double maxDiff = 0;
        for (int i = 0; i < kit.PromptIds.Length; i++)
        {
            var (tokens, logits) = llama.Generate(kit.PromptIds[i], GgufExportFixture.NewTokens);
            if (tokens.SequenceEqual(kit.Reference[i].Tokens)) equal++;
            else log.WriteLine($"prompt {i}: llama.cpp {string.Join(",", tokens)} vs SmVL {string.Join(",", kit.Reference[i].Tokens)}");
            maxDiff = Math.Max(maxDiff, MaxAbsDiff(logits, kit.Reference[i].Logits));
        }
        log.WriteLine($"f32: greedy tokens equal on {equal}/{kit.PromptIds.Length} prompts; max |Δlogit| {maxDiff:G3}");
        Assert.Equal(kit.PromptIds.Length, equal);
        Assert.True(maxDiff < 1e-4, $"f32 logits differ by up to {maxDiff}");
    }

    [Fact]
    public void F16_gguf_first_step_logits_are_within_f16_rounding_of_SmVLs()
    {
        using var llama = LlamaCppGenerator.Load(kit.F16.Text);
        var (maxDiff, sameArgMax, scale) = FirstStep(llama);
        log.WriteLine($"f16: first-step max |Δlogit| {maxDiff:G3} (logit scale {scale:G3}); argmax equal on {sameArgMax}/{kit.PromptIds.Length}");
        // f16 keeps 11 significant bits (relative rounding 2^-11 ≈ 4.9e-4) per weight.
        Assert.True(maxDiff < 1e-3 * scale, $"f16 logits differ by up to {maxDiff} at a logit scale of {scale}");
        Assert.True(sameArgMax >= kit.PromptIds.Length - 1, $"f16 argmax equal on only {sameArgMax}/{kit.PromptIds.Length}");
    }

    [Fact]
    public void Q8_0_from_llama_cpps_quantizer_loads_and_stays_close()
    {
        using var llama = LlamaCppGenerator.Load(kit.F16.Quantized!);
        Assert.Equal("7", llama.Metadata["general.file_type"]);   // LLAMA_FTYPE_MOSTLY_Q8_0
        var (maxDiff, sameArgMax, scale) = FirstStep(llama);
        log.WriteLine($"q8_0: first-step max |Δlogit| {maxDiff:G3} (logit scale {scale:G3}); argmax equal on {sameArgMax}/{kit.PromptIds.Length}");
        Assert.True(maxDiff < 0.02 * scale, $"q8_0 logits differ by up to {maxDiff} at a logit scale of {scale}");
    }

    /// <summary>
    /// The whole VLM in llama.cpp (<see cref="LlamaCppGenerator"/>): SmVL's image prompt (2×2 tiles and
    /// the global image, 4 image tokens each) with mtmd's embeddings in place of each image-token run.
    /// mtmd is given the image SmVL's processor resized (52×74 → 64×64), so it cuts SmVL's tiles
    /// exactly, and SmVL's 32×32 global crop as an image of its own; unsplit, the global crop alone.
    /// </summary>
    [Theory]
    [InlineData("f32", 1e-3, true)]
    [InlineData("f16", 0.05, true)]
    [InlineData("f32", 1e-3, false)]
    public void Image_prompt_with_mtmds_image_embeddings_answers_as_SmVL_does(string type, double tolerance, bool split)
    {
        var image = Gradient(52, 74, flip: false);
        long[] ids, expected;
        float[] expectedFirst, otherImageFirst;
        EngineImage crops;
        using (var folder = ModelFolder.Load(kit.ModelDir))
        {
            // Unsplit: the global image alone, which mtmd encodes from SmVL's crop like any other.
            var p = folder.Processor;
            var loaded = split ? folder : folder with { Processor = new Processor(p.Tokenizer, p.Template,
                new ImageProcessor(p.Images.Config with { DoImageSplitting = false }), p.Tokens, p.ImageSeqLen, p.PadTokenId) };
            (ids, expected, expectedFirst) = SmVLAnswer(loaded, image);
            (_, _, otherImageFirst) = SmVLAnswer(loaded, Gradient(52, 74, flip: true));
            crops = loaded.Processor.Images.ForEngine(image);
        }
        Assert.Equal(split ? "64x64" : "none", crops.Tiling is { } tiling ? $"{tiling.Width}x{tiling.Height}" : "none");

        var files = type == "f32" ? kit.F32 : kit.F16;
        using var llama = LlamaCppGenerator.Load(files.Text, files.Projector);
        var (tokens, logits) = llama.Generate(ids, GgufExportFixture.NewTokens, images: [crops], imageTokenId: TinyVlmKit.ImageTokenId);
        double diff = MaxAbsDiff([logits[0]], [expectedFirst]), imageEffect = MaxAbsDiff([otherImageFirst], [expectedFirst]);
        log.WriteLine($"{type} {(split ? "2×2 tiles + global" : "unsplit")} image prompt ({ids.Length} ids): first-step max |Δlogit| {diff:G3} " +
                      $"(another image moves SmVL's logits by {imageEffect:G3}; logit scale {expectedFirst.Max(Math.Abs):G3}); " +
                      $"llama.cpp {string.Join(",", tokens)} vs SmVL {string.Join(",", expected)}");
        Assert.Equal(expected, tokens);
        // Every crop's pixels are SmVL's; what remains is ggml's f16-table GELU (and f16 weights).
        Assert.True(diff < tolerance && diff < imageEffect / 10, $"llama.cpp's logits differ by {diff}, another image moves them by {imageEffect}");
    }

    /// <summary>SmVL's prompt ids for one image and a question, its greedy answer and the first step's logits.</summary>
    private static (long[] Ids, long[] Tokens, float[] FirstLogits) SmVLAnswer(LoadedModel loaded, RgbImage image)
    {
        var messages = new List<ChatMessage> { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("图中有什么颜色？")) };
        var input = loaded.Processor.Process(messages, [image], addGenerationPrompt: true, templateVars: ChatTemplate.NoThinking);
        using var pixels = Processor.PixelValues([input])!;
        using var result = Generator.Generate(loaded.Model, [input.InputIds], pixels,
            loaded.Generation with { MaxNewTokens = GgufExportFixture.NewTokens, EosTokenIds = [], ReturnLogits = true });
        using var first = result.StepLogits![0][0];
        return (input.InputIds, result.Tokens[0], first.data<float>().ToArray());
    }

    /// <summary>A smooth RGB gradient (resampling filters differ little on it), left to right or, flipped, right to left.</summary>
    private static RgbImage Gradient(int width, int height, bool flip)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + (flip ? width - 1 - x : x)) * 3;
                (pixels[o], pixels[o + 1], pixels[o + 2]) = ((byte)(x * 255 / (width - 1)), (byte)(y * 255 / (height - 1)), (byte)((x + y) * 255 / (width + height - 2)));
            }
        return new RgbImage(width, height, pixels);
    }

    [Fact]
    public async Task Export_verb_writes_text_mmproj_and_a_q4_k_m_that_llama_cpp_loads()
    {
        var outDir = Fixtures.TempDir();
        var error = new StringWriter();
        int code = await Cli.RunAsync(["export", "--model", kit.ModelDir, "--format", "gguf", "--out", outDir, "--quantize", "q4_k_m", "--threads", "2"],
                                      CancellationToken.None, new StringWriter(), error);
        Assert.True(code == 0, error.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "mmproj-f16.gguf")));
        Assert.True(File.Exists(Path.Combine(outDir, "text-f16.gguf")));
        using var llama = LlamaCppGenerator.Load(Path.Combine(outDir, "text-q4_k_m.gguf"));
        Assert.Equal("15", llama.Metadata["general.file_type"]);   // LLAMA_FTYPE_MOSTLY_Q4_K_M
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task Export_of_a_missing_folder_fails_in_one_line()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await Cli.RunAsync(["export", "--model", "/nonexistent/model", "--format", "gguf", "--out", Fixtures.TempDir()], CancellationToken.None, output, error);
        Assert.Equal(2, code);
        Assert.Equal("smvl export: model folder not found: /nonexistent/model", error.ToString().Trim());
        code = await Cli.RunAsync(["export", "--model", kit.ModelDir, "--format", "gguf", "--out", Fixtures.TempDir(), "--quantize", "q3"], CancellationToken.None, output, error);
        Assert.Equal(2, code);
    }

    /// <summary>Max |Δ| of the first step's logits over all prompts, how many argmaxes agree, and the largest |logit| (the scale).</summary>
    private (double MaxDiff, int SameArgMax, double Scale) FirstStep(LlamaCppGenerator llama)
    {
        double maxDiff = 0, scale = 0;
        int same = 0;
        for (int i = 0; i < kit.PromptIds.Length; i++)
        {
            var (tokens, logits) = llama.Generate(kit.PromptIds[i], 1);
            if (tokens[0] == kit.Reference[i].Tokens[0]) same++;
            maxDiff = Math.Max(maxDiff, MaxAbsDiff([logits[0]], [kit.Reference[i].Logits[0]]));
            scale = Math.Max(scale, kit.Reference[i].Logits[0].Max(Math.Abs));
        }
        return (maxDiff, same, scale);
    }

    private static double MaxAbsDiff(float[][] a, float[][] b)
    {
        double max = 0;
        for (int s = 0; s < a.Length; s++)
            for (int v = 0; v < a[s].Length; v++) max = Math.Max(max, Math.Abs(a[s][v] - b[s][v]));
        return max;
    }
}
