using System.CommandLine;
using SmVL.Serving;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl serve --model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]`: an OpenAI-compatible
/// chat API over a trained model folder (POST /v1/chat/completions with base64 image parts,
/// streamed or whole; GET /v1/models; GET /health) and a demo page at /. Loopback unless --host
/// says otherwise; runs until Ctrl+C. The model id is the folder's name.
/// </summary>
public sealed class ServeVerb : IVerb
{
    public string Name => "serve";
    public string Summary => "--model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]: an OpenAI-compatible chat API and a web page";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder", required: true),
        Opt.Text("host", "the IP address to listen on (default 127.0.0.1; 0.0.0.0 exposes the server to the network)"),
        Opt.Int("port", "the port (default 8000; 0 picks a free one)", min: 0),
        Opt.Text("api-key", "require Authorization: Bearer KEY on /v1 (default: no key)"),
        Opt.Int("max-in-flight", "requests admitted at once; one more is answered 429 (default 64)", min: 1),
        Opt.Int("max-batch", "greedy requests decoded together (default 8)", min: 1),
    ];

    public async Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string dir = args.Require("model");
        var defaults = new ServeLimits();
        var options = new ServeOptions
        {
            Host = args.Get("host") ?? "127.0.0.1", Port = args.Int("port", 8000), ApiKey = args.Get("api-key"),
            Limits = defaults with { MaxInFlight = args.Int("max-in-flight", defaults.MaxInFlight), MaxBatch = args.Int("max-batch", defaults.MaxBatch) },
        };
        if (options.Port > 65535) throw new CliException($"--port must be at most 65535, got {options.Port}");
        using var loaded = GenerateVerb.Load(dir);
        string id = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        ChatServer server;
        try { server = await ChatServer.StartAsync(loaded, id, options, cancel); }
        catch (Exception e) when (e is ArgumentException or IOException) { throw new CliException(e.Message); }   // a bad --host, a port in use
        await using (server)
        {
            Console.WriteLine($"serving {id} at {server.Address} (page: {server.Address}, API: {server.Address}v1/chat/completions); Ctrl+C stops");
            try { await Task.Delay(Timeout.Infinite, cancel); }
            catch (OperationCanceledException) { }
        }
        return 0;
    }
}
