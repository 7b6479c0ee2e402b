using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Processing;

namespace SmVL.Serving;

/// <summary>
/// An OpenAI-compatible chat server over one stitched model (ASP.NET Core minimal APIs):
/// <c>POST /v1/chat/completions</c> (whole or streamed as server-sent events), <c>GET /v1/models</c>,
/// <c>GET /health</c>, and the demo page at <c>/</c>. Requests are checked here and decoded by the
/// <see cref="DecodeQueue"/>; every refusal is OpenAI's error object with a 4xx status
/// (an unknown model is 404 <c>model_not_found</c>, as OpenAI answers it).
/// </summary>
public sealed class ChatServer : IAsyncDisposable
{
    private static readonly string Page = EmbeddedText.Read("serve.html");
    private readonly WebApplication _app;
    private readonly LoadedModel _model;
    private readonly ServeOptions _options;

    public string ModelId { get; }
    public DecodeQueue Queue { get; }
    /// <summary>Where it listens, e.g. http://127.0.0.1:8000 (the chosen port when asked for port 0).</summary>
    public Uri Address { get; private set; } = null!;

    private ChatServer(LoadedModel model, string modelId, ServeOptions options)
    {
        _model = model;
        _options = options;
        ModelId = modelId;
        Queue = new DecodeQueue(model.Model, options.Limits);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(options.ListenAddress(), options.Port);
            k.Limits.MaxRequestBodySize = options.Limits.MaxBodyBytes;
        });
        _app = builder.Build();
        _app.Use(Guard);
        _app.MapGet("/", () => Results.Content(Page, "text/html; charset=utf-8"));
        _app.MapGet("/health", () => Results.Json(new { status = "ok", model = ModelId, in_flight = Queue.InFlight, max_in_flight = options.Limits.MaxInFlight }));
        _app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { ModelCard() } }));
        _app.MapPost("/v1/chat/completions", Chat);
    }

    /// <summary>Start listening over a loaded model; the caller keeps owning the model (disposing the server stops its worker, not the model).</summary>
    public static async Task<ChatServer> StartAsync(LoadedModel model, string modelId, ServeOptions options, CancellationToken cancel = default)
    {
        var server = new ChatServer(model, modelId, options);
        try
        {
            await server._app.StartAsync(cancel);
            server.Address = new Uri(server._app.Urls.First());
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Queue.Dispose();
    }

    private object ModelCard() => new { id = ModelId, @object = "model", created = 0, owned_by = "smvl" };

    /// <summary>The key check for /v1, and every refusal turned into OpenAI's error object (once a stream has begun, the stream says it).</summary>
    private async Task Guard(HttpContext ctx, RequestDelegate next)
    {
        try
        {
            if (_options.ApiKey is { } key && ctx.Request.Path.StartsWithSegments("/v1") && !HasKey(ctx.Request, key))
                throw new ApiException(401, "Incorrect or missing API key: send the header Authorization: Bearer <key>", code: "invalid_api_key");
            await next(ctx);
        }
        catch (ApiException e) when (!ctx.Response.HasStarted) { await Refuse(ctx, e); }
        catch (BadHttpRequestException e) when (!ctx.Response.HasStarted)
        {
            await Refuse(ctx, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? new ApiException(413, $"the request body is over this server's {_options.Limits.MaxBodyBytes:N0}-byte limit", code: "request_too_large")
                : new ApiException(e.StatusCode, e.Message));
        }
        catch (Exception e) when (!ctx.Response.HasStarted && !ctx.RequestAborted.IsCancellationRequested)
        {
            await Refuse(ctx, new ApiException(500, $"{e.GetType().Name}: {e.Message}", "server_error"));
        }
    }

    private static bool HasKey(HttpRequest request, string key)
    {
        string header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header["Bearer ".Length..]), Encoding.UTF8.GetBytes(key));
    }

    private static Task Refuse(HttpContext ctx, ApiException e)
    {
        ctx.Response.StatusCode = e.Status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(e.ToJson().ToJsonString(ServeJson.Options));
    }

    private async Task Chat(HttpContext ctx)
    {
        if (!Queue.TryAdmit())
            throw new ApiException(429, $"the server is busy ({_options.Limits.MaxInFlight} requests in flight); retry shortly", "requests", code: "rate_limit_exceeded");
        try
        {
            var request = ChatRequest.From(await ReadBody(ctx), ModelId, _model.Generation, _options.Limits);
            var sample = Process(request);
            var job = new DecodeJob(sample, request.Options, ctx.RequestAborted);
            Queue.Enqueue(job);
            var answer = new Answer("chatcmpl-" + Guid.NewGuid().ToString("N"), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), Info(sample), sample.InputIds.Length);
            if (request.Stream) await Stream(ctx, job, answer, request.IncludeUsage);
            else await Whole(ctx, job, answer);
        }
        finally { Queue.Leave(); }
    }

    private sealed record Answer(string Id, long Created, SmvlInfo Info, int PromptTokens);

    private static async Task<ChatCompletionRequest> ReadBody(HttpContext ctx)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<ChatCompletionRequest>(ctx.Request.Body, ServeJson.Options, ctx.RequestAborted)
                ?? throw new JsonException("the body is null");
        }
        catch (JsonException e) { throw ApiException.BadRequest($"the body is not a valid chat request: {e.Message}", code: "invalid_json"); }
    }

    /// <summary>The prompt as the model will see it: template, image tiles expanded, tokenized; refused when too long.</summary>
    private ProcessedSample Process(ChatRequest request)
    {
        ProcessedSample sample;
        try { sample = _model.Processor.Process(request.Messages, request.Images, addGenerationPrompt: true, templateVars: ChatTemplate.NoThinking); }
        catch (Exception e) { throw ApiException.BadRequest($"the conversation cannot be rendered: {e.Message}", "messages"); }
        int limit = _options.Limits.MaxPromptTokens;
        if (sample.InputIds.Length > limit)
            throw ApiException.BadRequest($"the prompt is {sample.InputIds.Length} tokens (images expanded), over this server's {limit}", "messages", "context_length_exceeded");
        return sample;
    }

    private SmvlInfo Info(ProcessedSample sample) => new(
        sample.InputIds.Count(id => id == _model.Processor.ImageTokenId),
        sample.Images.Select(i => new TileInfo(i.Rows, i.Cols, i.NumImages, i.Width, i.Height)).ToList());

    private TextStreamer Streamer() => new(ids => _model.Processor.Tokenizer.Decode(ids, skipSpecialTokens: true));

    private async Task Whole(HttpContext ctx, DecodeJob job, Answer answer)
    {
        var streamer = Streamer();
        var text = new StringBuilder();
        int count = 0;
        await foreach (var token in job.Tokens.ReadAllAsync(ctx.RequestAborted)) { text.Append(streamer.Push(token)); count++; }
        text.Append(streamer.Flush());
        var completion = new ChatCompletion(answer.Id, answer.Created, ModelId, [new CompletionChoice(0, new AssistantMessage(text.ToString()), job.FinishReason)],
                                            new Usage(answer.PromptTokens, count), answer.Info);
        await ctx.Response.WriteAsJsonAsync(completion, ServeJson.Options, ctx.RequestAborted);
    }

    /// <summary>Server-sent events: the role (with <see cref="SmvlInfo"/>), text pieces as decoded, the finish reason, usage if asked, [DONE].</summary>
    private async Task Stream(HttpContext ctx, DecodeJob job, Answer answer, bool includeUsage)
    {
        var response = ctx.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        ChatCompletionChunk Chunk(ChunkDelta delta, string? finish = null) => new(answer.Id, answer.Created, ModelId, [new ChunkChoice(0, delta, finish)]);
        async Task Send(object value)
        {
            await response.WriteAsync("data: " + JsonSerializer.Serialize(value, ServeJson.Options) + "\n\n", ctx.RequestAborted);
            await response.Body.FlushAsync(ctx.RequestAborted);
        }

        await Send(Chunk(new ChunkDelta("assistant", "")) with { Smvl = answer.Info });
        var streamer = Streamer();
        int count = 0;
        try
        {
            await foreach (var token in job.Tokens.ReadAllAsync(ctx.RequestAborted))
            {
                count++;
                if (streamer.Push(token) is { Length: > 0 } piece) await Send(Chunk(new ChunkDelta(Content: piece)));
            }
        }
        catch (Exception e) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            await Send(new ApiException(500, $"decoding failed: {e.Message}", "server_error").ToJson());
            return;
        }
        if (streamer.Flush() is { Length: > 0 } tail) await Send(Chunk(new ChunkDelta(Content: tail)));
        await Send(Chunk(new ChunkDelta(), job.FinishReason));
        if (includeUsage) await Send(new ChatCompletionChunk(answer.Id, answer.Created, ModelId, [], new Usage(answer.PromptTokens, count)));
        await response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
    }
}
