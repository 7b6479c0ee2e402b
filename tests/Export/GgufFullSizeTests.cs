using SmVL.Checkpoints;
using SmVL.Evaluation;
using SmVL.Export;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Export;

/// <summary>
/// The GGUF export at the architecture's real shapes (SigLIP-B/16-512, pixel shuffle 4, Qwen3-0.6B with
/// head_dim 128 ≠ hidden/heads), random HF-normal weights: llama.cpp loads both files and its first-step
/// logits agree with SmVL's on a text prompt and on a 2×2-tile image prompt. ~3 GB on disk and in RAM,
/// ~2.5 min on 2 busy cores.
/// </summary>
[Trait("Category", "Slow")]
public class GgufFullSizeTests(ITestOutputHelper log)
{
    [Fact]
    public void Full_size_stitched_model_exports_and_llama_cpp_agrees_on_first_step_logits()
    {
        string root = Fixtures.TempDir(), modelDir = Path.Combine(root, "model"), outDir = Path.Combine(root, "gguf");
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var tok = Tokenizer.Qwen3();
            var processor = new Processor(tok, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageProcessorConfig.SmolVLM2 with { LongestEdge = 1024 }),
                                          ImageTokens.Qwen3SmVL(tok), imageSeqLen: 64, padTokenId: 151643);
            var config = new SmolVLMConfig
            {
                ImageTokenId = 151655, ScaleFactor = 4, VocabSize = 151936, TieWordEmbeddings = true, PadTokenId = 151643,
                VisionConfig = VisionConfig.SmolVLM2_256M, TextConfig = TextConfig.Qwen3_0_6B with { PadTokenId = 151643, TorchDtype = "float32" },
            };
            using (var model = new SmolVLMForConditionalGeneration(config))
            {
                WeightInit.HfNormal(model, seed: 2);
                Stitcher.Save(model, modelDir);
            }
            ModelFolder.SaveProcessor(processor, modelDir);
            var files = GgufExport.Write(modelDir, outDir, GgmlType.F32);
            log.WriteLine($"written and exported in {clock.Elapsed.TotalSeconds:F0}s");

            var image = new RgbImage(1024, 1024, Enumerable.Range(0, 1024 * 1024 * 3).Select(i => (byte)(i % 3 == 0 ? i / 3 % 1024 / 4 : i / 3 / 1024 / 4)).ToArray());
            var text = new List<ChatMessage> { ChatMessage.User(ChatPart.TextPart("What is in the picture?")) };
            var withImage = new List<ChatMessage> { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("What is in the picture?")) };
            var prompts = new[] { processor.Process(text, [], addGenerationPrompt: true), processor.Process(withImage, [image], addGenerationPrompt: true) };
            var expected = new float[2][];
            using (var loaded = ModelFolder.Load(modelDir))
                for (int i = 0; i < 2; i++)
                {
                    using var pixels = Processor.PixelValues([prompts[i]]);
                    using var result = Generator.Generate(loaded.Model, [prompts[i].InputIds], pixels, new() { MaxNewTokens = 1, EosTokenIds = [], ReturnLogits = true });
                    expected[i] = result.StepLogits![0][0].data<float>().ToArray();
                }
            log.WriteLine($"SmVL done at {clock.Elapsed.TotalSeconds:F0}s");

            using var llama = LlamaCppGenerator.Load(files.Text, files.Projector);
            for (int i = 0; i < 2; i++)
            {
                var (_, logits) = llama.Generate(prompts[i].InputIds, 1, images: i == 0 ? [] : [processor.Images.ForEngine(image)], imageTokenId: config.ImageTokenId);
                double diff = expected[i].Zip(logits[0], (a, b) => (double)Math.Abs(a - b)).Max(), scale = expected[i].Max(Math.Abs);
                log.WriteLine($"{(i == 0 ? "text" : "image")} prompt ({prompts[i].InputIds.Length} ids): first-step max |Δlogit| {diff:G3}, logit scale {scale:G3}");
                Assert.True(diff < 1e-3 * scale, $"first-step logits differ by {diff} at a logit scale of {scale}");
            }
            log.WriteLine($"llama.cpp done at {clock.Elapsed.TotalSeconds:F0}s");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
