namespace SmVL.Experiments.Notebooks;

/// <summary>
/// Metadata checks for committed notebooks: the Polyglot kernelspec and per-cell language that
/// VS Code needs to open them as C#, and no committed outputs (they are bulky and go stale; the
/// runner regenerates them).
/// </summary>
public static class NotebookLint
{
    public const string KernelName = ".net-csharp";

    /// <summary>Problems found, one readable line each; empty means clean.</summary>
    public static IReadOnlyList<string> Check(string path)
    {
        var problems = new List<string>();
        Notebook nb;
        try { nb = Notebook.Load(path); }
        catch (Exception e) when (e is InvalidDataException or IOException) { return [e.Message]; }

        var meta = nb.Root["metadata"];
        if (meta?["kernelspec"]?["name"]?.GetValue<string>() is var kernel && kernel != KernelName)
            problems.Add($"metadata.kernelspec.name is {Show(kernel)}, expected \"{KernelName}\"");
        if (meta?["language_info"]?["name"]?.GetValue<string>() is var lang && lang != "csharp")
            problems.Add($"metadata.language_info.name is {Show(lang)}, expected \"csharp\"");

        int codeNo = 0;
        foreach (var cell in nb.CodeCells)
        {
            codeNo++;
            var m = cell.Json["metadata"];
            if (m?["dotnet_interactive"]?["language"]?.GetValue<string>() != "csharp" || m?["polyglot_notebook"]?["kernelName"]?.GetValue<string>() != "csharp")
                problems.Add($"code cell {codeNo}: metadata needs {{\"dotnet_interactive\":{{\"language\":\"csharp\"}},\"polyglot_notebook\":{{\"kernelName\":\"csharp\"}}}}");
            if (cell.Json["outputs"] is System.Text.Json.Nodes.JsonArray { Count: > 0 } outs)
                problems.Add($"code cell {codeNo}: {outs.Count} committed output(s); clear outputs before committing");
        }
        return problems;
    }

    private static string Show(string? s) => s is null ? "missing" : $"\"{s}\"";
}
