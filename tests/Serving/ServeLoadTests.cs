using System.ClientModel;
using System.Diagnostics;
using OpenAI;
using OpenAI.Chat;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Serving;

/// <summary>
/// A benchmark-style load run (no timed assertion): 16 OpenAI clients × 8 streamed image requests
/// each, all at once. Asserts no failure; prints p50/p95 latency, tokens/s, how requests were
/// batched, and resident memory after the first and the last round.
/// </summary>
[Collection("serve")]
public class ServeLoadTests(ServeFixture serve, ITestOutputHelper output)
{
    private const int Clients = 16, Rounds = 8, MaxTokens = 16;

    [Fact]
    public async Task SixteenClientsTimesEightRequestsAllSucceed()
    {
        var latencies = new List<double>();
        var failures = new List<string>();
        long tokens = 0;
        var rss = new long[Rounds];
        var waiting = Enumerable.Repeat(Clients, Rounds).ToArray();
        var roundDone = Enumerable.Range(0, Rounds).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        async Task EndRound(int r)   // every client waits for the others, so each round is 16 requests at once
        {
            if (Interlocked.Decrement(ref waiting[r]) == 0)
            {
                GC.Collect();
                rss[r] = Process.GetCurrentProcess().WorkingSet64;
                roundDone[r].SetResult();
            }
            await roundDone[r].Task;
        }
        var clock = Stopwatch.StartNew();
        long decodesBefore = serve.Server.Queue.Decodes, jobsBefore = serve.Server.Queue.DecodedJobs;

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(async () =>
        {
            var client = new ChatClient("tiny", new ApiKeyCredential(ServeFixture.Key),
                new OpenAIClientOptions { Endpoint = new Uri(serve.Server.Address, "v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });
            for (int r = 0; r < Rounds; r++)
            {
                var messages = new List<OpenAI.Chat.ChatMessage>
                {
                    new SystemChatMessage(ServeFixture.System),
                    new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(serve.Png), "image/png"),
                                        ChatMessageContentPart.CreateTextPart($"第{c}位客人的第{r}个问题：图中有什么？")),
                };
                var started = Stopwatch.GetTimestamp();
                try
                {
                    int count = 0;
                    await foreach (var update in client.CompleteChatStreamingAsync(messages, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = MaxTokens }))
                        count = update.Usage?.OutputTokenCount ?? count;
                    if (count == 0) throw new InvalidOperationException("no usage in the stream");
                    lock (latencies) { latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds); tokens += count; }
                }
                catch (Exception e) { lock (failures) failures.Add($"client {c} round {r}: {e.Message}"); }
                await EndRound(r);
            }
        })));

        double seconds = clock.Elapsed.TotalSeconds;
        latencies.Sort();
        double P(double q) => latencies.Count == 0 ? double.NaN : latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(q * latencies.Count) - 1)];
        long decodes = serve.Server.Queue.Decodes - decodesBefore, jobs = serve.Server.Queue.DecodedJobs - jobsBefore;
        output.WriteLine($"{Clients} clients × {Rounds} requests: {latencies.Count} ok, {failures.Count} failed in {seconds:F1} s");
        output.WriteLine($"latency p50 {P(0.50):F0} ms, p95 {P(0.95):F0} ms; {tokens} tokens, {tokens / seconds:F1} tokens/s; {jobs} requests in {decodes} decodes ({(double)jobs / decodes:F1} per decode)");
        output.WriteLine($"resident memory after round 1: {rss[0] / 1048576.0:F0} MiB, after round {Rounds}: {rss[^1] / 1048576.0:F0} MiB");
        Assert.Empty(failures);
        Assert.Equal(Clients * Rounds, latencies.Count);
    }
}
