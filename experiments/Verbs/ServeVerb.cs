using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using SmVL.Serving;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl serve --model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY] [--name ID] [--open]`: an OpenAI-compatible
/// chat API over a trained model folder (POST /v1/chat/completions with base64 image parts,
/// streamed or whole; GET /v1/models; GET /health) and a demo page at /. Loopback unless --host
/// says otherwise; runs until Ctrl+C (or SIGTERM). The model id clients send is --name, else the
/// folder's name (its run's name for a `train` output, RUN/model).
/// </summary>
public sealed class ServeVerb : IVerb
{
    public string Name => "serve";
    public string Summary => "--model DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY] [--name ID] [--open]: an OpenAI-compatible chat API and a web page";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder", required: true),
        Opt.Text("host", "the IP address to listen on (default 127.0.0.1; 0.0.0.0 exposes the server to the network)"),
        Opt.Int("port", "the port (default 8000; 0 picks a free one)", min: 0),
        Opt.Text("api-key", "require Authorization: Bearer KEY on /v1 (default: no key)"),
        Opt.Text("name", "the model id clients send (default: the folder's name, or its run's for RUN/model)"),
        Opt.Flag("open", "open the page in the default browser once listening"),
        Opt.Int("max-in-flight", "requests admitted at once; one more is answered 429 (default 16)", min: 1),
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
        try { options.ListenAddress(); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
        using var loaded = GenerateVerb.Load(dir);
        string id = args.Get("name") ?? ModelId(dir);
        ChatServer server;
        try { server = await ChatServer.StartAsync(loaded, id, options, cancel); }
        catch (IOException e) { throw new CliException($"cannot listen on {options.Host}:{options.Port}: {e.Message}"); }   // e.g. the port is in use
        await using (server)
        {
            Console.WriteLine($"serving {id} at {server.Address} (page: {server.Address}, API: {server.Address}v1/chat/completions); Ctrl+C stops");
            if (args.Flag("open")) OpenBrowser(server.Address);
            try { await Task.Delay(Timeout.Infinite, cancel); }
            catch (OperationCanceledException) { }
        }
        return 0;
    }

    private static void OpenBrowser(Uri page)
    {
        try { Process.Start(new ProcessStartInfo(page.ToString()) { UseShellExecute = true })?.Dispose(); }
        catch (Win32Exception e) { Console.Error.WriteLine($"note: could not open a browser ({e.Message}); open {page} yourself"); }
    }

    /// <summary>The folder's name; for `train`'s RUN/model, the run's.</summary>
    private static string ModelId(string dir)
    {
        var full = new DirectoryInfo(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
        return full.Name == "model" && full.Parent is { } run ? run.Name : full.Name;
    }
}
