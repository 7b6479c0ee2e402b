using SmVL.Processing;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Processing;

/// <summary>Messages + images → ids/labels/pixels, the SmolVLM layout with Qwen3-SmVL's tokens.</summary>
public class ProcessorTests
{
    private static readonly Lazy<Tokenizer> Qwen3 = new(Tokenizer.Qwen3);

    private static Processor RealSettings() =>
        new(Qwen3.Value, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageProcessorConfig.SmolVLM2), ImageTokens.Qwen3SmVL(Qwen3.Value), 64, 151643);

    private static RgbImage Gradient(int w, int h)
    {
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) { int i = (y * w + x) * 3; px[i] = (byte)(x * 255 / w); px[i + 1] = (byte)(y * 255 / h); px[i + 2] = 128; }
        return new RgbImage(w, h, px);
    }

    [Fact]
    public void TheBlogsDemoPromptHas832ImageTokensInTheSmolVLMLayout()
    {
        var p = RealSettings();
        var messages = new[] { ChatMessage.System("使用中文回答所有问题。"), ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("图中有什么动物？")) };
        var sample = p.Process(messages, new[] { Gradient(1076, 584) }, addGenerationPrompt: true,
                               templateVars: new Dictionary<string, object?> { ["enable_thinking"] = true });
        Assert.Equal(832, sample.InputIds.Count(i => i == 151655));
        Assert.Equal(3, sample.Images[0].Rows);
        Assert.Equal(4, sample.Images[0].Cols);
        Assert.Equal(13, sample.Images[0].NumImages);
        Assert.Equal(1, sample.InputIds.Count(i => i == 151654));                  // one global-image marker
        string text = p.Tokenizer.Decode(sample.InputIds.Select(i => (int)i));
        string run = string.Concat(Enumerable.Repeat("<|image_pad|>", 64));
        Assert.Contains("<|im_start|>user\n<vision_start><row_1_col_1>" + run + "<vision_start><row_1_col_2>", text);
        Assert.Contains("<vision_start><row_3_col_4>" + run + "\n\n<vision_start><|vision_pad|>" + run + "<vision_start>\n图中有什么动物？<|im_end|>\n<|im_start|>assistant\n", text);
        Assert.StartsWith("<|im_start|>system\n使用中文回答所有问题。<|im_end|>\n", text);
        // Full-text labels (Qwen3-SmVL): only image tokens (and padding) carry no loss.
        Assert.Equal(sample.InputIds.Select(i => i == 151655 ? -100L : i), sample.Labels);
    }

    private static Processor Tiny() =>
        new(Qwen3.Value, ChatTemplate.Qwen3SmVL(), new ImageProcessor(ImageProcessorConfig.SmolVLM2 with { LongestEdge = 64, MaxImageSize = 32 }),
            ImageTokens.Qwen3SmVL(Qwen3.Value), 4, 151643);

    [Fact]
    public void AssistantOnlyLabelsCoverExactlyTheAnswer()
    {
        var p = Tiny();
        var messages = new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("图中有几个圆形？")), ChatMessage.Assistant("两个") };
        var vars = new Dictionary<string, object?> { ["enable_thinking"] = false };
        var s = p.Process(messages, new[] { Gradient(64, 40) }, LabelPolicy.AssistantOnly, templateVars: vars);
        var labelled = s.Labels.Where(l => l != -100).Select(l => (int)l).ToList();
        Assert.Equal("两个<|im_end|>\n", p.Tokenizer.Decode(labelled));
        Assert.Equal(s.Images[0].NumImages * 4, s.InputIds.Count(i => i == 151655));
    }

    [Fact]
    public void AssistantOnlyPromptWithoutAnswerHasNoLabels()
    {
        var p = Tiny();
        var s = p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("图中有几个圆形？")) }, new[] { Gradient(64, 40) },
            LabelPolicy.AssistantOnly, addGenerationPrompt: true, templateVars: new Dictionary<string, object?> { ["enable_thinking"] = false });
        Assert.All(s.Labels, l => Assert.Equal(-100L, l));
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", p.Tokenizer.Decode(s.InputIds.Select(i => (int)i)));
    }

    [Fact]
    public void CollatePadsRightAndNeverCutsImages()
    {
        var p = Tiny();
        var a = p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("短")) }, new[] { Gradient(32, 32) });
        var b = p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("一个长一点的问题，有更多的字。")) }, new[] { Gradient(64, 32) });
        using var batch = p.Collate(new[] { a, b });
        int T = Math.Max(a.InputIds.Length, b.InputIds.Length);
        int shorter = a.InputIds.Length < b.InputIds.Length ? 0 : 1;
        var s = shorter == 0 ? a : b;
        Assert.NotEqual(a.InputIds.Length, b.InputIds.Length);
        Assert.Equal(new long[] { 2, T }, batch.InputIds.shape);
        Assert.Equal(s.InputIds.Length, batch.AttentionMask[shorter].sum().item<long>());
        Assert.Equal(151643L, batch.InputIds[shorter, T - 1].item<long>());
        Assert.Equal(-100L, batch.Labels[shorter, T - 1].item<long>());
        // pixel values (B, N_max, 3, 32, 32); the image with fewer crops is padded with all-zero crops.
        int nA = a.Images[0].NumImages, nB = b.Images[0].NumImages;
        Assert.NotEqual(nA, nB);
        Assert.Equal(new long[] { 2, Math.Max(nA, nB), 3, 32, 32 }, batch.PixelValues!.shape);
        int fewer = nA < nB ? 0 : 1;
        Assert.Equal(0.0f, batch.PixelValues[fewer, Math.Min(nA, nB)].abs().sum().item<float>());
        Assert.Throws<SampleTooLongException>(() => p.Collate(new[] { a, b }, maxLength: T - 1));
    }

    /// <summary>Issue 3: a too-long sample is never cut: dropped and counted, or raised, by option.</summary>
    [Fact]
    public void FilterByLengthDropsAndCountsOrRaises()
    {
        var p = Tiny();
        // 64×32 → 1×2 tiles + global; 64×64 → 2×2 tiles + global, and a longer question.
        var shortOne = p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("短")) }, new[] { Gradient(64, 32) });
        var longOne = p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart("一个长一点的问题，有更多的字。")) }, new[] { Gradient(64, 64) });
        var textOnly = p.Process(new[] { ChatMessage.User("你好") }, Array.Empty<RgbImage>());
        var samples = new[] { shortOne, longOne, textOnly, longOne };
        int limit = Math.Max(shortOne.InputIds.Length, textOnly.InputIds.Length); // one of them fits exactly (<=)
        Assert.True(longOne.InputIds.Length > limit, $"{longOne.InputIds.Length} <= {limit}");

        var f = Processor.FilterByLength(samples, limit);
        Assert.Equal(2, f.Dropped);
        Assert.Equal(new[] { 1, 3 }, f.DroppedIndices);
        Assert.Equal(new[] { shortOne, textOnly }, f.Kept); // order kept, samples untouched (nothing cut)
        using (var batch = p.Collate(f.Kept, maxLength: limit, padToMax: true))
        {
            Assert.Equal(new long[] { 2, limit }, batch.InputIds.shape);
            Assert.Equal(shortOne.Images[0].NumImages * 4, batch.InputIds[0].eq(151655).sum().item<long>());
        }

        var all = Processor.FilterByLength(samples, longOne.InputIds.Length);
        Assert.Equal((4, 0), (all.Kept.Count, all.Dropped));
        var none = Processor.FilterByLength(new[] { longOne }, 1);
        Assert.Equal((0, 1), (none.Kept.Count, none.Dropped));

        var e = Assert.Throws<SampleTooLongException>(() => Processor.FilterByLength(samples, limit, TooLongPolicy.Raise));
        Assert.Equal((1, longOne.InputIds.Length, limit), (e.Index!.Value, e.Length, e.MaxLength));
        Assert.Contains("sample 1 needs", e.Message);
        // Collate itself still raises rather than cutting.
        Assert.Throws<SampleTooLongException>(() => p.Collate(samples, maxLength: limit));
        Assert.Throws<ArgumentOutOfRangeException>(() => Processor.FilterByLength(samples, 0));
    }

    [Fact]
    public void ImageCountMismatchIsAnError()
    {
        var p = Tiny();
        var e = Assert.Throws<ArgumentException>(() => p.Process(new[] { ChatMessage.User(ChatPart.Image(), ChatPart.Image()) }, new[] { Gradient(32, 32) }));
        Assert.Contains("2 image tokens but 1 images", e.Message);
    }
}
