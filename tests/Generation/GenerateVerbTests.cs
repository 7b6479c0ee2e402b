using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Processing;
using SmVL.Tests.Evaluation;
using Xunit;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Generation;

/// <summary>`generate` on a tiny random stitched model: what it streams is what Generator.Generate decodes.</summary>
public class GenerateVerbTests
{
    private static readonly Lazy<string> Model = new(() => TinyVlmKit.SaveRandom(seed: 5));

    /// <summary>A TinyWorld eval image as a PNG file.</summary>
    private static readonly Lazy<string> Image = new(() =>
    {
        var sample = new CauldronReader(TinyVlmKit.DataDir, "eval").ReadSubset("tinyworld_zh").First();
        var path = Path.Combine(Fixtures.TempDir(), "scene.png");
        File.WriteAllBytes(path, ImageCodec.EncodePng(sample.DecodeImage()));
        return path;
    });

    [Fact]
    public async Task StreamedTextIsTheGreedyAnswer()
    {
        const string system = "使用中文回答所有问题。", prompt = "图中有什么动物？";
        string streamed = await CaptureStdout(() => Cli.Invoke(new GenerateVerb(), 
            ["--model", Model.Value, "--image", Image.Value, "--image", Image.Value, "--system", system, "--prompt", prompt, "--max-new-tokens", "24"]));

        using var loaded = ModelFolder.Load(Model.Value);
        var image = ImageCodec.Load(Image.Value);
        var messages = new List<ChatMessage> { ChatMessage.System(system), ChatMessage.User(ChatPart.Image(), ChatPart.Image(), ChatPart.TextPart(prompt)) };
        var input = loaded.Processor.Process(messages, [image, image], addGenerationPrompt: true, templateVars: SmVL.Processing.ChatTemplate.NoThinking);
        using var pixels = Processor.PixelValues([input]);
        using var result = Generator.Generate(loaded.Model, [input.InputIds], pixels, loaded.Generation with { MaxNewTokens = 24 });
        string expected = loaded.Processor.Tokenizer.Decode(result.Tokens[0].Select(t => (int)t), skipSpecialTokens: true);

        Assert.True(expected.Length > 0, "the random model should say something");
        Assert.Equal(expected + Environment.NewLine, streamed);
    }

    [Fact]
    public async Task SamplingFromTheTopOneTokenIsGreedy()
    {
        string[] common = ["--model", Model.Value, "--image", Image.Value, "--prompt", "图中有几个圆形？", "--max-new-tokens", "12"];
        string greedy = await CaptureStdout(() => Cli.Invoke(new GenerateVerb(), common));
        string topOne = await CaptureStdout(() => Cli.Invoke(new GenerateVerb(), [.. common, "--temperature", "0.7", "--top-k", "1", "--seed", "3"]));
        string wide = await CaptureStdout(() => Cli.Invoke(new GenerateVerb(), [.. common, "--temperature", "5", "--top-k", "0", "--seed", "3"]));
        Assert.Equal(greedy, topOne);
        Assert.NotEqual(greedy, wide);     // a random model at temperature 5 over 151936 tokens never matches 12 greedy tokens
    }

    [Fact]
    public async Task ACorruptImageIsAUsageErrorNamingTheFile()
    {
        var path = Path.Combine(Fixtures.TempDir(), "corrupt.png");
        File.WriteAllBytes(path, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5]);
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new GenerateVerb(), 
            ["--model", Model.Value, "--image", Image.Value, "--image", path, "--prompt", "图中有什么？"]));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public async Task AMissingImageIsAUsageErrorNamingTheFile()
    {
        var path = Path.Combine(Fixtures.TempDir(), "nowhere.png");
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new GenerateVerb(), 
            ["--model", Model.Value, "--image", path, "--prompt", "图中有什么？"]));
        Assert.Contains(path, e.Message);
    }

    private static async Task<string> CaptureStdout(Func<Task<int>> run)
    {
        var original = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        try { Assert.Equal(0, await run()); }
        finally { Console.SetOut(original); }
        return writer.ToString();
    }
}
