using System.CommandLine;
using SmVL.Experiments.Notebooks;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl notebooks run [FILES...] [--out DIR]`: execute notebooks in the .NET Interactive kernel
/// (dotnet-repl, one process each, see <see cref="KernelRunner"/>) and write executed .ipynb +
/// standalone .html to DIR; exit 1 if any cell of any notebook ends in an error.
/// `smvl notebooks lint [FILES...]`: check metadata, no committed outputs, kernel-only idioms.
/// FILES default to notebooks/*.ipynb.
/// </summary>
public sealed class NotebooksVerb : IVerb
{
    public string Name => "notebooks";
    public string Summary => "run [FILES...] [--out DIR] | lint [FILES...]: execute or lint .ipynb notebooks";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Rest("words", "run [FILES...] | lint [FILES...]"),
        Opt.Text("out", "run: folder for the executed notebooks and their HTML pages"),
    ];

    public async Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string sub = args.Positional.FirstOrDefault() ?? throw new CliException("usage: notebooks run [FILES...] [--out DIR] | notebooks lint [FILES...]");
        var files = args.Positional.Skip(1).ToList();
        if (files.Count == 0)
        {
            string dir = Path.Combine(SmVL.Paths.RepoRoot, "notebooks");
            files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.ipynb").Order(StringComparer.Ordinal).ToList() : [];
            if (files.Count == 0) throw new CliException($"no notebooks given and none in {dir}");
        }
        foreach (var f in files) if (!File.Exists(f)) throw new CliException($"no such notebook: {f}");

        switch (sub)
        {
            case "run":
                string outDir = args.Get("out") ?? Path.Combine(SmVL.Paths.RepoRoot, "out", "notebooks");
                int failed = 0;
                foreach (var f in files)
                {
                    var r = await KernelRunner.RunAsync(f, outDir);
                    Console.WriteLine(r.Summary);
                    if (!r.Success) { failed++; Console.Error.WriteLine(r.Log); }
                }
                Console.WriteLine($"{files.Count - failed} of {files.Count} notebook(s) ran clean; executed copies in {outDir}");
                return failed == 0 ? 0 : 1;
            case "lint":
                int bad = 0;
                foreach (var f in files)
                    foreach (var p in NotebookLint.Check(f)) { Console.WriteLine($"{f}: {p}"); bad++; }
                Console.WriteLine(bad == 0 ? $"{files.Count} notebook(s) clean" : $"{bad} problem(s)");
                return bad == 0 ? 0 : 1;
            default:
                throw new CliException($"unknown subcommand '{sub}' (run | lint)");
        }
    }
}
