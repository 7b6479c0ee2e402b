using SmVL.TinyWorld;
using System.CommandLine;
using System.Diagnostics;
using SmVL.Data;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl data tinyworld --out DIR [--train N] [--eval M] [--seed S]`: write the synthetic TinyWorld set.
/// `smvl data inspect PATH [--split train] [--limit N] [--show K] [--all-turns] [--all-images] [--no-validate]`:
/// PATH is a Cauldron root, a subset directory or one parquet file.
/// </summary>
public sealed class DataVerb : IVerb
{
    public string Name => "data";
    public string Summary => "data tinyworld --out DIR [--train N --eval M --seed S] | data inspect PATH";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Rest("words", "tinyworld | inspect PATH"),
        Opt.Text("out", "tinyworld: output folder"),
        Opt.Int("train", "tinyworld: training samples (default 20,000)", min: 1),
        Opt.Int("eval", "tinyworld: held-out samples (default 1,000)", min: 1),
        Opt.Long("seed", "tinyworld: seed (default 1234)"),
        Opt.Text("split", "inspect: split (default train)"),
        Opt.Int("limit", "inspect: at most this many good rows per subset", min: 1),
        Opt.Int("show", "inspect: samples to print (default 3)", min: 0),
        Opt.Flag("all-turns", "inspect: keep every turn of a sample"),
        Opt.Flag("all-images", "inspect: keep every image of a sample"),
        Opt.Flag("no-validate", "inspect: do not decode images to validate rows"),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel) => Task.FromResult(args.Positional.FirstOrDefault() switch
    {
        "tinyworld" => TinyWorld(args),
        "inspect" => Inspect(args),
        var other => throw new CliException($"data: expected 'tinyworld' or 'inspect', got '{other ?? "nothing"}'"),
    });

    private static int TinyWorld(Args args)
    {
        string outDir = args.Require("out");
        int train = args.Int("train", 20_000), eval = args.Int("eval", 1_000);
        long seed = args.Long("seed") ?? 1234;
        var result = TinyWorldExport.Write(outDir, train, eval, seed);
        Console.WriteLine($"tinyworld: {train} train + {eval} eval samples, seed {seed}, in {result.Elapsed.TotalSeconds:F1} s " +
                          $"(render + PNG encode {result.RenderAndEncode.TotalSeconds:F1} s)");
        foreach (var f in result.Files) Console.WriteLine($"  {f} ({new FileInfo(f).Length / 1024.0:F0} KiB)");
        Console.WriteLine("\ntrain: answers per type and majority baselines");
        Console.WriteLine(result.Train);
        Console.WriteLine("\neval:");
        Console.WriteLine(result.Eval);
        return 0;
    }

    private static int Inspect(Args args)
    {
        string path = args.Positional.ElementAtOrDefault(1) ?? throw new CliException("data inspect: give a Cauldron root, subset directory or parquet file");
        string split = args.Get("split") ?? "train";
        int limit = args.Int("limit", int.MaxValue), show = args.Int("show", 3);
        var options = new SampleOptions(args.Flag("all-images"), args.Flag("all-turns"), !args.Flag("no-validate"));

        CauldronReader reader;
        List<(string Subset, IReadOnlyList<CauldronShard> Shards)> subsets;
        if (File.Exists(path))
        {
            string subset = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path)))!;
            reader = new CauldronReader(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(path)))!, split);
            subsets = [(subset, reader.FileShards(subset, Path.GetFullPath(path)))];
        }
        else if (Directory.Exists(path))
        {
            var full = Path.GetFullPath(path).TrimEnd('/');
            bool isSubset = Directory.GetFiles(full, $"{split}-*.parquet").Length > 0;
            reader = new CauldronReader(isSubset ? Path.GetDirectoryName(full)! : full, split);
            var names = isSubset ? [Path.GetFileName(full)] : reader.Subsets();
            if (names.Count == 0) throw new CliException($"data inspect: no {split}-*.parquet under {full}");
            subsets = names.Select(n => (n, reader.Shards([n]))).ToList();
        }
        else throw new CliException($"data inspect: no such file or directory: {path}");

        var sw = Stopwatch.StartNew();
        var stats = new Dictionary<string, TinyWorldStats>();
        var shown = new List<VqaSample>();
        Console.WriteLine($"{"subset",-28} {"files",5} {"groups",6} {"rows",9} {"read",9} {"good",9}");
        foreach (var (subset, shards) in subsets)
        {
            long rows = shards.Sum(s => s.Rows);
            long before = reader.BadRows.Total, good = 0;
            foreach (var sample in reader.ReadShards(shards, options).Take(limit))
            {
                good++;
                if (shown.Count < show) shown.Add(sample);
                foreach (var turn in sample.Turns.Where(t => t.QuestionType is not null))
                {
                    string key = $"{subset} ({turn.Language})";
                    if (!stats.TryGetValue(key, out var st)) stats[key] = st = new TinyWorldStats();
                    st.Add(turn.QuestionType!, turn.Assistant);
                }
            }
            long read = good + reader.BadRows.Total - before;
            Console.WriteLine($"{subset,-28} {shards.Select(s => s.File).Distinct().Count(),5} {shards.Count,6} {rows,9} {read,9} {good,9}");
        }
        Console.WriteLine($"(read in {sw.Elapsed.TotalSeconds:F1} s{(limit < int.MaxValue ? $", at most {limit} good rows per subset" : "")})\n");
        Console.WriteLine(reader.BadRows);
        foreach (var (key, st) in stats) Console.WriteLine($"\n{key}: answers per type\n{st}");
        foreach (var s in shown)
        {
            Console.WriteLine($"\n{s.Id}: {s.Images.Count} image(s), first {Describe(s)}");
            foreach (var t in s.Turns.Take(3)) Console.WriteLine($"  Q: {Clip(t.User)}\n  A: {Clip(t.Assistant)}{(t.Source is null ? "" : $"   [{t.Source}]")}");
        }
        return 0;
    }

    private static string Describe(VqaSample s)
    {
        try { var img = s.DecodeImage(); return $"{img.Width}×{img.Height}, {s.Images[0].Length} bytes"; }
        catch (SmVL.Processing.ImageDecodeException e) { return e.Message; }
    }

    private static string Clip(string s) => (s.Length > 160 ? s[..160] + "…" : s).ReplaceLineEndings(" ⏎ ");
}
