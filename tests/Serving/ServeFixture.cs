using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Processing;
using SmVL.Serving;
using SmVL.Tests.Evaluation;
using Xunit;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Tests.Serving;

/// <summary>
/// One server for the serving tests: a tiny random stitched model (greedy output is deterministic),
/// on 127.0.0.1 at a free port, with an API key and small limits so every refusal is cheap to
/// provoke. Shut down when the tests end.
/// </summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public const string Key = "test-key", System = "使用中文回答所有问题。", Question = "图中有什么动物？";

    /// <summary>Room for the load test's 16 clients (a request leaves just after its last byte is sent).</summary>
    public static ServeLimits Limits { get; } = new()
    {
        MaxBodyBytes = 256 * 1024, MaxImages = 2, MaxImagePixels = 512 * 512, MaxPromptTokens = 400, MaxNewTokens = 64, MaxInFlight = 32, MaxBatch = 8,
    };

    public LoadedModel Model { get; private set; } = null!;
    public ChatServer Server { get; private set; } = null!;
    /// <summary>A TinyWorld eval scene (64×64 → 2×2 tiles + the global image), as PNG bytes and as a file.</summary>
    public byte[] Png { get; private set; } = null!;
    public string PngPath { get; private set; } = null!;
    public string DataUrl => DataUrlOf(Png);
    public static string DataUrlOf(byte[] png) => "data:image/png;base64," + Convert.ToBase64String(png);

    public async Task InitializeAsync()
    {
        Model = ModelFolder.Load(TinyVlmKit.SaveRandom(seed: 5));
        var sample = new CauldronReader(TinyVlmKit.DataDir, "eval").ReadSubset("tinyworld_zh").First();
        Png = ImageCodec.EncodePng(sample.DecodeImage());
        PngPath = Path.Combine(Fixtures.TempDir(), "scene.png");
        await File.WriteAllBytesAsync(PngPath, Png);
        Server = await ChatServer.StartAsync(Model, "tiny", new ServeOptions { Port = 0, ApiKey = Key, Limits = Limits });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Model.Dispose();
    }

    /// <summary>What Generator decodes, greedily, for the system prompt + the image + <paramref name="question"/> (the reference for the server's answers).</summary>
    public (string Text, int PromptTokens, int Tokens) GreedyAnswer(string question, int maxTokens)
    {
        var messages = new List<ChatMessage> { ChatMessage.System(System), ChatMessage.User(ChatPart.Image(), ChatPart.TextPart(question)) };
        var input = Model.Processor.Process(messages, [ImageCodec.Decode(Png, "scene.png")], addGenerationPrompt: true, templateVars: ChatTemplate.NoThinking);
        using var pixels = Processor.PixelValues([input]);
        using var result = Generator.Generate(Model.Model, [input.InputIds], pixels, Model.Generation with { MaxNewTokens = maxTokens });
        return (Model.Processor.Tokenizer.Decode(result.Tokens[0].Select(t => (int)t), skipSpecialTokens: true), input.InputIds.Length, result.Tokens[0].Length);
    }
}

[CollectionDefinition("serve")]
public sealed class ServeCollection : ICollectionFixture<ServeFixture>;
