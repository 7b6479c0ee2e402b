using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;
using SmVL.Experiments.Notebooks.Script;

namespace SmVL.Experiments.Notebooks;

/// <summary>How one notebook run ended. <see cref="FailedCell"/> is the 1-based code-cell number.</summary>
public sealed record NotebookResult(string Notebook, string OutputNotebook, string OutputHtml, TimeSpan Elapsed, int? FailedCell, string? Error)
{
    public bool Success => Error is null;
}

/// <summary>
/// Executes a Polyglot (.NET Interactive) C# notebook headlessly: code cells run in order in one
/// Roslyn script state, outputs are stored as nbformat outputs, and the executed notebook is written
/// as .ipynb and as standalone HTML. Stops at the first failing cell.
/// </summary>
public static class NotebookRunner
{
    private static readonly string[] Imports = ["System", "System.Linq", "System.Collections.Generic", "System.IO", "System.Threading.Tasks", typeof(NotebookGlobals).Namespace!];

    // Console and the display target are process-wide: one notebook runs at a time.
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task<NotebookResult> RunAsync(string path, string outDir, TextWriter log)
    {
        await Gate.WaitAsync();
        try { return await RunLockedAsync(path, outDir, log); }
        finally { Gate.Release(); }
    }

    private static async Task<NotebookResult> RunLockedAsync(string path, string outDir, TextWriter log)
    {
        var total = Stopwatch.StartNew();
        path = Path.GetFullPath(path);
        string name = Path.GetFileNameWithoutExtension(path);
        string dir = Path.GetDirectoryName(path)!;
        var nb = Notebook.Load(path);
        nb.EnsureCellIds();
        var code = nb.CodeCells.ToList();
        foreach (var c in code) c.Clear();
        log.WriteLine($"{name}: {code.Count} code cells");

        string? error = null;
        int? failed = null;
        void Fail(int cellNo, NotebookCell cell, string ename, string evalue, IEnumerable<string> traceback)
        {
            cell.Outputs.Add(new JsonObject
            {
                ["output_type"] = "error", ["ename"] = ename, ["evalue"] = evalue,
                ["traceback"] = new JsonArray(traceback.Select(l => (JsonNode?)l).ToArray()),
            });
            failed = cellNo;
            error = $"{path}: code cell {cellNo}: {ename}: {evalue}";
        }

        // Parse every cell first: directives and unsupported languages fail before anything runs,
        // and all packages are restored in one go.
        var sources = new List<CellSource>();
        for (int i = 0; i < code.Count && error is null; i++)
        {
            try
            {
                if (code[i].Language is not ("csharp" or "C#" or "c#"))
                    throw new NotSupportedException($"cell language is '{code[i].Language}'; only C# runs here");
                sources.Add(CellSource.Parse(code[i].Source, dir));
            }
            catch (NotSupportedException e) { Fail(i + 1, code[i], "NotSupported", e.Message, [e.Message]); }
        }

        var resolver = new ReferenceResolver(log);
        if (error is null)
        {
            try { resolver.Restore(sources.SelectMany(s => s.References).OfType<NuGetReference>(), sources.SelectMany(s => s.NuGetSources)); }
            catch (InvalidOperationException e)
            {
                int first = sources.FindIndex(s => s.References.OfType<NuGetReference>().Any(r => !ReferenceResolver.IsProvided(r, out _)));
                Fail(first + 1, code[first], "NuGetRestoreFailed", e.Message.Split('\n')[0], e.Message.Split('\n'));
            }
        }

        var options = ScriptOptions.Default
            .WithReferences(ReferenceResolver.Base)
            .WithImports(Imports)
            .WithFilePath(path)
            .WithEmitDebugInformation(true) // line numbers in exception tracebacks
            .WithFileEncoding(System.Text.Encoding.UTF8);
        var globals = new NotebookGlobals(path);
        ScriptState<object>? state = null;
        var stdout = Console.Out;
        var stderr = Console.Error;

        for (int i = 0; i < sources.Count && error is null; i++)
        {
            var cell = code[i];
            var output = new CellOutput(cell.Outputs);
            cell.Json["execution_count"] = i + 1;
            var sw = Stopwatch.StartNew();
            try { options = options.AddReferences(sources[i].References.SelectMany(resolver.Resolve)); }
            catch (FileNotFoundException e) { Fail(i + 1, cell, "ReferenceNotFound", e.Message, [e.Message]); }
            if (error is null)
            {
                try
                {
                    CellOutput.Current = output;
                    Console.SetOut(new CellOutput.StreamWriter("stdout", stdout));
                    Console.SetError(new CellOutput.StreamWriter("stderr", stderr));
                    state = state is null
                        ? await CSharpScript.RunAsync(sources[i].Code, options, globals, typeof(NotebookGlobals))
                        : await state.ContinueWithAsync(sources[i].Code, options);
                    if (state.ReturnValue is { } value)
                        output.Add(new JsonObject
                        {
                            ["output_type"] = "execute_result", ["execution_count"] = i + 1,
                            ["data"] = Formatter.Format(value), ["metadata"] = new JsonObject(),
                        });
                }
                catch (CompilationErrorException e)
                {
                    var lines = e.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)
                        .Select(d => $"line {d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.Id}: {d.GetMessage()}").ToList();
                    output.Flush();
                    Fail(i + 1, cell, "CompilationError", lines.FirstOrDefault() ?? e.Message, lines);
                }
                catch (Exception e)
                {
                    output.Flush();
                    Fail(i + 1, cell, e.GetType().Name, e.Message, Traceback(e));
                }
                finally
                {
                    output.Flush();
                    CellOutput.Current = null;
                    Console.SetOut(stdout);
                    Console.SetError(stderr);
                }
            }
            log.WriteLine($"  cell {i + 1}/{code.Count} {(failed == i + 1 ? "FAILED" : "ok")} {sw.Elapsed.TotalSeconds:F2} s");
        }

        Directory.CreateDirectory(outDir);
        string outNb = Path.Combine(outDir, name + ".ipynb");
        string outHtml = Path.Combine(outDir, name + ".html");
        File.WriteAllText(outNb, nb.ToJson());
        File.WriteAllText(outHtml, NotebookHtml.Render(nb, name));
        log.WriteLine(error is null
            ? $"{name}: ok in {total.Elapsed.TotalSeconds:F1} s -> {outNb}, {outHtml}"
            : $"{name}: FAILED at code cell {failed} of {code.Count} after {total.Elapsed.TotalSeconds:F1} s");
        return new NotebookResult(path, outNb, outHtml, total.Elapsed, failed, error);
    }

    /// <summary>The exception's text down to the notebook's own frames; Roslyn's executor frames below them are noise.</summary>
    private static IEnumerable<string> Traceback(Exception e)
    {
        var lines = e.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int cut = lines.FindIndex(l => l.TrimStart().StartsWith("at Microsoft.CodeAnalysis.Scripting."));
        if (cut > 0 && lines[cut - 1].StartsWith("---")) cut--;
        return cut > 0 ? lines.Take(cut) : lines;
    }
}
