using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Tests.Evaluation;
using Xunit;

namespace SmVL.Tests.Serving;

/// <summary>`smvl serve` itself: it serves a model folder on loopback until cancelled, and refuses a bad --host before loading anything.</summary>
public class ServeVerbTests
{
    [Fact]
    public async Task ServesTheFolderUntilCancelledNamingTheModelAfterTheRun()
    {
        var run = Path.Combine(Fixtures.TempDir(), "my-run");
        Directory.Move(TinyVlmKit.SaveRandom(seed: 5), Path.Combine(Directory.CreateDirectory(run).FullName, "model"));
        int port = FreePort();
        using var stop = new CancellationTokenSource();
        var serving = Cli.Invoke(new ServeVerb(), ["--model", Path.Combine(run, "model"), "--port", port.ToString()], stop.Token);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            JsonNode? health = null;
            for (int i = 0; i < 600 && health is null && !serving.IsCompleted; i++)
            {
                try { health = JsonNode.Parse(await http.GetStringAsync("health")); }
                catch (HttpRequestException) { await Task.Delay(100); }
            }
            Assert.NotNull(health);
            Assert.Equal("my-run", (string?)health["model"]);
            var models = JsonNode.Parse(await http.GetStringAsync("v1/models"))!;   // no --api-key: no key needed
            Assert.Equal("my-run", (string?)models["data"]![0]!["id"]);
        }
        finally { stop.Cancel(); }
        Assert.Equal(0, await serving.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task AHostThatIsNotAnAddressIsAUsageError()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new ServeVerb(), ["--model", Fixtures.TempDir(), "--host", "example.com"]));
        Assert.Contains("example.com", e.Message);
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
