using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Serving;

/// <summary>
/// `serve` through the official OpenAI .NET client (and raw HTTP where a client would never send
/// the bad request): answers equal Generator's greedy decode, streamed or whole; every refusal is
/// OpenAI's error object with the right status.
/// </summary>
[Collection("serve")]
public class ChatServerTests(ServeFixture serve)
{
    private ChatClient Client(string key = ServeFixture.Key, string model = "tiny") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(serve.Server.Address, "v1"), NetworkTimeout = TimeSpan.FromMinutes(1) });

    private List<OpenAI.Chat.ChatMessage> Ask(string question) =>
    [
        new SystemChatMessage(ServeFixture.System),
        new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(serve.Png), "image/png"), ChatMessageContentPart.CreateTextPart(question)),
    ];

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Fact]
    public async Task AWholeAnswerIsGeneratorsGreedyAnswerWithItsTokenCounts()
    {
        var expected = serve.GreedyAnswer(ServeFixture.Question, 24);
        ChatCompletion answer = await Client().CompleteChatAsync(Ask(ServeFixture.Question), Greedy(24));
        Assert.True(expected.Text.Length > 0, "the random model should say something");
        Assert.Equal(expected.Text, answer.Content[0].Text);
        Assert.Equal(expected.PromptTokens, answer.Usage.InputTokenCount);
        Assert.Equal(expected.Tokens, answer.Usage.OutputTokenCount);
        Assert.Equal(expected.Tokens == 24 ? ChatFinishReason.Length : ChatFinishReason.Stop, answer.FinishReason);
        Assert.Equal("tiny", answer.Model);
    }

    [Fact]
    public async Task AStreamedAnswerArrivesInPiecesThatJoinToGeneratorsAnswer()
    {
        var expected = serve.GreedyAnswer("图中有几个圆形？", 32);
        var pieces = new List<string>();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in Client().CompleteChatStreamingAsync(Ask("图中有几个圆形？"), Greedy(32)))
        {
            pieces.AddRange(update.ContentUpdate.Select(p => p.Text).Where(t => t.Length > 0));
            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }
        Assert.True(pieces.Count > 1, $"streamed in {pieces.Count} piece(s)");
        Assert.Equal(expected.Text, string.Concat(pieces));
        Assert.NotNull(usage);
        Assert.Equal(expected.PromptTokens, usage.InputTokenCount);
        Assert.Equal(expected.Tokens, usage.OutputTokenCount);
        Assert.NotNull(finish);
    }

    [Fact]
    public async Task TheStreamIsOpenAIsChunkFormatWithTheTilesAndEndsWithDone()
    {
        var body = Body(ServeFixture.DataUrlOf(serve.Png), stream: true, maxTokens: 4);
        var (status, text) = await Post(body);
        Assert.Equal(200, status);
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var first = JsonNode.Parse(events[0]["data: ".Length..])!;
        Assert.Equal("chat.completion.chunk", (string?)first["object"]);
        Assert.Equal("assistant", (string?)first["choices"]![0]!["delta"]!["role"]);
        // 64×64 scene, 32 px tiles: 2×2 tiles + the global image, 4 image tokens each.
        Assert.Equal(20, (int)first["smvl"]!["image_tokens"]!);
        Assert.Equal(2, (int)first["smvl"]!["images"]![0]!["rows"]!);
        Assert.Equal(5, (int)first["smvl"]!["images"]![0]!["crops"]!);
    }

    [Fact]
    public async Task ConcurrentRequestsAreBatchedAndEachGetsItsOwnAnswer()
    {
        string[] questions = ["图中有什么动物？", "图中有几个圆形？", "图中是什么颜色？", "这是什么？"];
        var expected = questions.Select(q => serve.GreedyAnswer(q, 16).Text).ToList();
        long decodesBefore = serve.Server.Queue.Decodes, jobsBefore = serve.Server.Queue.DecodedJobs;
        var answers = await Task.WhenAll(questions.Select(async q => (await Client().CompleteChatAsync(Ask(q), Greedy(16))).Value.Content[0].Text));
        Assert.Equal(expected, answers);
        long decodes = serve.Server.Queue.Decodes - decodesBefore, jobs = serve.Server.Queue.DecodedJobs - jobsBefore;
        Assert.Equal(questions.Length, jobs);
        Assert.True(decodes < jobs, $"{jobs} requests in {decodes} decodes: none was batched");
    }

    [Fact]
    public async Task ASeedMakesASampledAnswerRepeatable()
    {
        var sampled = new ChatCompletionOptions { Temperature = 2, MaxOutputTokenCount = 12 };
#pragma warning disable OPENAI001 // Seed is marked experimental in the client
        sampled.Seed = 7;
#pragma warning restore OPENAI001
        string first = (await Client().CompleteChatAsync(Ask(ServeFixture.Question), sampled)).Value.Content[0].Text;
        string again = (await Client().CompleteChatAsync(Ask(ServeFixture.Question), sampled)).Value.Content[0].Text;
        Assert.Equal(first, again);
        Assert.NotEqual(serve.GreedyAnswer(ServeFixture.Question, 12).Text, first);   // OpenAI's hottest: 12 tokens drawn from a random model are not its greedy ones
    }

    [Fact]
    public async Task AQuestionWithoutAnImageIsAnswered()
    {
        ChatCompletion answer = await Client().CompleteChatAsync([new UserChatMessage("你好")], Greedy(8));
        Assert.InRange(answer.Usage.OutputTokenCount, 1, 8);
        Assert.False(string.IsNullOrEmpty(answer.Content[0].Text));
    }

    [Fact]
    public async Task ModelsAndHealthAnswer()
    {
        var models = await new HttpClient { DefaultRequestHeaders = { Authorization = new("Bearer", ServeFixture.Key) } }.GetStringAsync(new Uri(serve.Server.Address, "v1/models"));
        Assert.Equal("tiny", (string?)JsonNode.Parse(models)!["data"]![0]!["id"]);
        var health = JsonNode.Parse(await new HttpClient().GetStringAsync(new Uri(serve.Server.Address, "health")))!;   // no key needed
        Assert.Equal("ok", (string?)health["status"]);
        Assert.Equal("127.0.0.1", serve.Server.Address.Host);   // the default host: loopback
    }

    [Fact]
    public async Task AMissingOrWrongKeyIs401()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client(key: "wrong").CompleteChatAsync(Ask(ServeFixture.Question), Greedy(4)));
        Assert.Equal(401, e.Status);
        await AssertError(await Post(Body(serve.DataUrl), key: null), 401, "invalid_api_key");
        await AssertError(await Get("v1/models", key: null), 401, "invalid_api_key");
    }

    [Fact]
    public async Task AnUnknownModelIs404AsOpenAIAnswersIt()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client(model: "gpt-4o").CompleteChatAsync(Ask(ServeFixture.Question), Greedy(4)));
        Assert.Equal(404, e.Status);
        await AssertError(await Post(Body(serve.DataUrl, model: "gpt-4o")), 404, "model_not_found");
    }

    [Fact]
    public async Task MalformedJsonIs400()
    {
        await AssertError(await Post("{\"model\": \"tiny\", \"messages\": [", raw: true), 400, "invalid_json");
        await AssertError(await Post("{\"model\": \"tiny\", \"messages\": [], \"temperature\": \"hot\"}", raw: true), 400, "invalid_json");
    }

    [Fact]
    public async Task AnImageThatDoesNotDecodeIs400()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client().CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes([0x89, 0x50, 0x4E, 0x47, 1, 2, 3]), "image/png"), ChatMessageContentPart.CreateTextPart("?"))], Greedy(4)));
        Assert.Equal(400, e.Status);
        await AssertError(await Post(Body("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB")), 400, "invalid_image_format");
        await AssertError(await Post(Body("data:image/png;base64,@@@not base64@@@")), 400, "invalid_image_format");
    }

    [Fact]
    public async Task AnImageUrlThatIsNotDataIsRefusedNeverFetched()
    {
        await AssertError(await Post(Body("http://127.0.0.1:1/cat.png")), 400, "invalid_image_url");
        await AssertError(await Post(Body(serve.PngPath)), 400, "invalid_image_url");
        await AssertError(await Post(Body("file://" + serve.PngPath)), 400, "invalid_image_url");
    }

    [Fact]
    public async Task TooManyPixelsIs400()
    {
        var big = ImageCodec.EncodePng(new RgbImage(600, 600, new byte[600 * 600 * 3]));   // 360,000 px > 512² (a few KB of PNG)
        await AssertError(await Post(Body(ServeFixture.DataUrlOf(big))), 400, "image_too_large");
    }

    [Fact]
    public async Task TooManyImagesIs400()
    {
        await AssertError(await Post(Body(serve.DataUrl, images: 3)), 400, "too_many_images");
    }

    [Fact]
    public async Task TooManyTokensIs400()
    {
        await AssertError(await Post(Body(serve.DataUrl, maxTokens: ServeFixture.Limits.MaxNewTokens + 1)), 400, "invalid_value");
        await AssertError(await Post(Body(serve.DataUrl, question: string.Concat(Enumerable.Repeat("图中有什么动物？", 200)))), 400, "context_length_exceeded");
    }

    [Fact]
    public async Task ABodyOverTheLimitIs413()
    {
        var huge = "data:image/png;base64," + new string('A', (int)ServeFixture.Limits.MaxBodyBytes);
        await AssertError(await Post(Body(huge)), 413, "request_too_large");
    }

    [Fact]
    public async Task AFullQueueIs429AndFreesWhenRequestsEnd()
    {
        // Requests whose bodies have not finished arriving hold their places; one more is refused.
        var release = new TaskCompletionSource();
        using var http = new HttpClient();
        var held = Enumerable.Range(0, ServeFixture.Limits.MaxInFlight).Select(_ => Hold(http, release.Task)).ToList();
        await WaitUntil(() => serve.Server.Queue.InFlight == ServeFixture.Limits.MaxInFlight);
        await AssertError(await Post(Body(serve.DataUrl, maxTokens: 2)), 429, "rate_limit_exceeded");
        release.SetResult();
        Assert.All(await Task.WhenAll(held), status => Assert.Equal(HttpStatusCode.OK, status));
        await WaitUntil(() => serve.Server.Queue.InFlight == 0);
        Assert.Equal(200, (await Post(Body(serve.DataUrl, maxTokens: 2))).Status);
    }

    [Fact]
    public async Task AClientThatGoesAwayMidStreamFreesItsPlace()
    {
        using (var http = new HttpClient())
        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri(serve.Server.Address, "v1/chat/completions"))
               { Content = new StringContent(Body(serve.DataUrl, stream: true, maxTokens: ServeFixture.Limits.MaxNewTokens), Encoding.UTF8, "application/json") })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServeFixture.Key);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var events = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await events.ReadLineAsync());
        }   // gone after the first event
        await WaitUntil(() => serve.Server.Queue.InFlight == 0);
        var expected = serve.GreedyAnswer(ServeFixture.Question, 8);
        Assert.Equal(expected.Text, (await Client().CompleteChatAsync(Ask(ServeFixture.Question), Greedy(8))).Value.Content[0].Text);
    }

    /// <summary>A chat request whose body ends only when <paramref name="release"/> completes.</summary>
    private async Task<HttpStatusCode> Hold(HttpClient http, Task release)
    {
        var body = Encoding.UTF8.GetBytes(Body(serve.DataUrl, maxTokens: 2));
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(serve.Server.Address, "v1/chat/completions")) { Content = new SlowContent(body, release) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ServeFixture.Key);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private sealed class SlowContent(byte[] body, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(body.AsMemory(0, 10));
            await stream.FlushAsync();
            await release;
            await stream.WriteAsync(body.AsMemory(10));
        }

        protected override bool TryComputeLength(out long length) { length = body.Length; return true; }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (int i = 0; i < 300 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), "timed out after 15 s");
    }

    private static string Body(string imageUrl, string model = "tiny", bool stream = false, int maxTokens = 4, int images = 1, string question = ServeFixture.Question)
    {
        var content = new JsonArray();
        for (int i = 0; i < images; i++) content.Add(new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = imageUrl } });
        content.Add(new JsonObject { ["type"] = "text", ["text"] = question });
        return new JsonObject
        {
            ["model"] = model, ["stream"] = stream, ["max_tokens"] = maxTokens, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = ServeFixture.System }, new JsonObject { ["role"] = "user", ["content"] = content }),
        }.ToJsonString();
    }

    private async Task<(int Status, string Body)> Post(string body, string? key = ServeFixture.Key, bool raw = false)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(serve.Server.Address, "v1/chat/completions")) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task<(int Status, string Body)> Get(string path, string? key)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(serve.Server.Address, path));
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The status, and OpenAI's error object: message, type, param and code all present, code as expected.</summary>
    private static Task AssertError((int Status, string Body) response, int status, string code)
    {
        Assert.True(response.Status == status, $"expected {status}, got {response.Status}: {response.Body}");
        var error = JsonNode.Parse(response.Body)!["error"]!.AsObject();
        Assert.Equal(["message", "type", "param", "code"], error.Select(p => p.Key));
        Assert.False(string.IsNullOrEmpty((string?)error["message"]));
        Assert.Equal(code, (string?)error["code"]);
        return Task.CompletedTask;
    }
}
