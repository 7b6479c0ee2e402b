using System.CommandLine;
using SmVL.Benchmarks;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl bench --out FILE.json [--quick] [--steps N (timed steps per shape)] [--contexts 128,512,2048] [--decode-tokens N] [--matmul-size N]
/// [--gpu-tflops X] [--gpu-mfu F] [--llamacpp f32,f16,q8_0|none]`: how fast the real-size model trains and decodes on this
/// machine, how close that is to the machine's own limits (random weights, no download), and how
/// llama.cpp decodes the same model. Writes the JSON and prints a table. `--quick` runs the same
/// machinery on a toy model in seconds.
/// </summary>
public sealed class BenchVerb : IVerb
{
    public string Name => "bench";
    public string Summary => "measure training/decoding speed at full size against this machine's matmul and bandwidth ceilings";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("out", "the report (JSON)", required: true),
        Opt.Flag("quick", "the same machinery on a toy model, in seconds"),
        Opt.Int("steps", "timed steps per training shape", min: 1),
        Opt.Text("contexts", "decode context lengths, comma-separated (e.g. 128,512,2048)"),
        Opt.Int("decode-tokens", "tokens decoded per context", min: 1),
        Opt.Text("llamacpp", "GGUF types llama.cpp decodes the same model from, comma-separated (default f32,f16,q8_0; none: skip)"),
        Opt.Int("matmul-size", "matrix size of the matmul ceiling probe", min: 1),
        Opt.Number("gpu-tflops", "a GPU's peak TFLOP/s, for the extrapolated step time", above: 0),
        Opt.Number("gpu-mfu", "the fraction of that peak a GPU step would reach", above: 0, max: 1),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string outPath = args.Require("out");
        var s = args.Flag("quick") ? BenchSettings.Quick : BenchSettings.Full;
        if (args.Has("steps"))
        {
            int steps = args.Int("steps", 1);
            s = s with { TrainShapes = s.TrainShapes.Select(t => t with { Steps = steps }).ToList() };
        }
        if (args.Get("llamacpp") is { } peers)
        {
            var types = peers == "none" ? [] : peers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (var t in types)
                if (t is not ("f32" or "f16") && !Export.GgufExport.Quantizations.Contains(t))
                    throw new CliException($"--llamacpp: unknown GGUF type '{t}' (f32, f16, {string.Join(", ", Export.GgufExport.Quantizations)} or none)");
            s = s with { PeerTypes = types };
        }
        if (args.Has("decode-tokens")) s = s with { DecodeTokens = args.Int("decode-tokens", s.DecodeTokens) };
        if (args.Has("matmul-size")) s = s with { MatmulSize = args.Int("matmul-size", s.MatmulSize) };
        if (args.Get("contexts") is { } list) s = s with { DecodeContexts = Contexts(list) };
        if (args.Has("gpu-tflops")) s = s with { GpuPeakTflops = args.Double("gpu-tflops", s.GpuPeakTflops), GpuName = $"GPU at {args.Double("gpu-tflops", 0)} TFLOP/s" };
        if (args.Has("gpu-mfu")) s = s with { GpuMfu = args.Double("gpu-mfu", s.GpuMfu) };

        var report = Bench.Run(s);
        report.Save(outPath);
        Console.WriteLine(report.ToTable());
        Console.WriteLine($"wrote {outPath}");
        return Task.FromResult(0);
    }

    private static long[] Contexts(string list)
    {
        var parts = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = parts.Select(p => long.TryParse(p, out var v) && v > 1 ? v : throw new CliException($"--contexts expects integers > 1 separated by commas, got '{p}'")).ToArray();
        return values.Length > 0 ? values : throw new CliException("--contexts is empty");
    }
}
