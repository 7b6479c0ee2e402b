using System.Diagnostics;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// Executes a notebook in the .NET Interactive kernel, exactly as a user's headless run does:
/// <c>dotnet repl --run NB --exit-after-run --output-format ipynb --output-path OUT</c> (dotnet-repl,
/// the repository's local tool: .config/dotnet-tools.json, installed by build/setup.sh), one process
/// per notebook, started in the notebook's folder as VS Code starts its kernel. The executed
/// notebook lands in OUT_DIR/NAME.ipynb and, built from it, a standalone page in OUT_DIR/NAME.html
/// (<see cref="NotebookHtml"/>). A run succeeds when the kernel exits 0 and no cell has an error output.
/// </summary>
public static class KernelRunner
{
    public sealed record Result(string Notebook, string OutputNotebook, string OutputHtml, int ExitCode,
                                IReadOnlyList<string> Errors, int Charts, TimeSpan Elapsed, string Log)
    {
        public bool Success => ExitCode == 0 && Errors.Count == 0;
        public string Summary => Success
            ? $"{Path.GetFileName(Notebook)}: ok, {Elapsed.TotalSeconds:F1} s, {Charts} chart(s)"
            : $"{Path.GetFileName(Notebook)}: FAILED (kernel exit code {ExitCode}) after {Elapsed.TotalSeconds:F1} s" +
              string.Concat(Errors.Select(e => "\n  " + e));
    }

    /// <param name="environment">variables set for the kernel process on top of this process's own</param>
    /// <param name="timeout">how long the notebook may run before its kernel is stopped (a failed run); none by default</param>
    public static async Task<Result> RunAsync(string notebook, string outDir, IReadOnlyDictionary<string, string?>? environment = null,
                                              TimeSpan? timeout = null)
    {
        notebook = Path.GetFullPath(notebook);
        Directory.CreateDirectory(outDir);
        string name = Path.GetFileNameWithoutExtension(notebook);
        string outIpynb = Path.GetFullPath(Path.Combine(outDir, name + ".ipynb"));
        string outHtml = Path.ChangeExtension(outIpynb, ".html");
        File.Delete(outIpynb);

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(notebook)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[] { "repl", "--run", notebook, "--exit-after-run", "--output-format", "ipynb", "--output-path", outIpynb })
            start.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>()) start.Environment[key] = value;

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        process.StandardInput.Close();   // the kernel never waits for a key
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? Timeout.InfiniteTimeSpan);
        try { await process.WaitForExitAsync(deadline.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return new Result(notebook, outIpynb, outHtml, -1, [$"stopped after {timeout}"], 0, clock.Elapsed, await stdout + await stderr);
        }
        string log = await stdout + await stderr;
        clock.Stop();

        if (!File.Exists(outIpynb))
            return new Result(notebook, outIpynb, outHtml, process.ExitCode == 0 ? -1 : process.ExitCode,
                              [$"the kernel wrote no notebook to {outIpynb}"], 0, clock.Elapsed, log);
        var executed = ExecutedNotebook.Load(outIpynb);
        File.WriteAllText(outHtml, NotebookHtml.Render(executed, name));
        return new Result(notebook, outIpynb, outHtml, process.ExitCode, executed.Errors(), executed.Charts(), clock.Elapsed, log);
    }
}
