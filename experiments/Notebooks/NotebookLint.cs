using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// Checks for committed notebooks. Format: the Polyglot kernelspec and per-cell language that VS Code
/// needs to open them as C#, and no committed outputs (bulky, and stale at once). Idioms: code uses
/// only what the .NET Interactive kernel provides, so it runs in VS Code, Jupyter and dotnet-repl alike.
/// </summary>
public static class NotebookLint
{
    public const string KernelName = ".net-csharp";

    /// <summary>The one folder the notebooks load SmVL from, relative to notebooks/ (lib/SmVL.Notebooks).</summary>
    public const string SmVLReference = "#r \"../lib/SmVL.Notebooks/bin/SmVL.dll\"";

    private static readonly (Regex Pattern, string Problem)[] Idioms =
    [
        (new(@"\bNotebook(Directory|Path)\b"), "uses NotebookDirectory/NotebookPath, which the kernel does not define (use SmVL.Paths.RepoRoot)"),
        (new(@"display\((?>[^()""]+|""(?:[^""\\]|\\.)*""|\((?<d>)|\)(?<-d>))*,\s*""text/html""\s*\)"),
            "displays a string with \"text/html\", which the kernel shows as escaped text (use display(HTML(...)))"),
        (new(@"#r\s+""nuget:\s*Plotly\.NET\.Interactive"), "loads Plotly.NET.Interactive, whose charts fetch plotly.js from a CDN (SmVL shows charts offline)"),
        (new(@"#r\s+""[^""]*SmVL\.dll"""), "references SmVL.dll elsewhere than " + SmVLReference),
    ];

    private static readonly Regex SystemIoUse = new(@"(?<![\w.])(Path|File|Directory|StreamReader|StreamWriter)\.");

    /// <summary>Problems found, one readable line each; empty means clean.</summary>
    public static IReadOnlyList<string> Check(string path)
    {
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException("not a JSON object"); }
        catch (Exception e) when (e is JsonException or InvalidDataException or IOException) { return [$"{path}: {e.Message}"]; }

        var problems = new List<string>();
        var meta = root["metadata"];
        if (meta?["kernelspec"]?["name"]?.GetValue<string>() is var kernel && kernel != KernelName)
            problems.Add($"metadata.kernelspec.name is {Show(kernel)}, expected \"{KernelName}\"");
        if (meta?["language_info"]?["name"]?.GetValue<string>() is var lang && lang != "csharp")
            problems.Add($"metadata.language_info.name is {Show(lang)}, expected \"csharp\"");

        var code = (root["cells"] as JsonArray ?? []).OfType<JsonObject>().Where(c => c["cell_type"]?.GetValue<string>() == "code").ToList();
        bool importsSystemIo = code.Any(c => Source(c).Contains("using System.IO;"));
        for (int i = 0; i < code.Count; i++)
        {
            var cell = code[i];
            string where = $"code cell {i + 1}";
            var m = cell["metadata"];
            if (m?["dotnet_interactive"]?["language"]?.GetValue<string>() != "csharp" || m?["polyglot_notebook"]?["kernelName"]?.GetValue<string>() != "csharp")
                problems.Add($"{where}: metadata needs {{\"dotnet_interactive\":{{\"language\":\"csharp\"}},\"polyglot_notebook\":{{\"kernelName\":\"csharp\"}}}}");
            if (cell["outputs"] is JsonArray { Count: > 0 } outs)
                problems.Add($"{where}: {outs.Count} committed output(s); clear outputs before committing");
            string source = Source(cell);
            foreach (var (pattern, problem) in Idioms)
                if (pattern.Match(source) is { Success: true } hit && hit.Value != SmVLReference) problems.Add($"{where}: {problem}");
            if (!importsSystemIo && SystemIoUse.IsMatch(source))
                problems.Add($"{where}: uses System.IO without `using System.IO;` (the kernel does not import it)");
        }
        return problems;
    }

    private static string Source(JsonObject cell) => cell["source"] switch
    {
        JsonArray lines => string.Concat(lines.Select(l => l?.GetValue<string>())),
        JsonNode s => s.GetValue<string>(),
        null => "",
    };

    private static string Show(string? s) => s is null ? "missing" : $"\"{s}\"";
}
