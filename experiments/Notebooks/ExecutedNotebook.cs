using System.Collections;
using System.Text.Json;
using Microsoft.DotNet.Interactive.Documents;
using Jupyter = Microsoft.DotNet.Interactive.Documents.Jupyter;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// A notebook read with .NET Interactive's own document model (Microsoft.DotNet.Interactive.Documents),
/// with what the runner and the tests ask of the kernel's outputs: its errors, its Plotly charts and
/// all the text it showed.
/// </summary>
public sealed class ExecutedNotebook(InteractiveDocument document)
{
    public InteractiveDocument Document { get; } = document;

    public IEnumerable<InteractiveDocumentElement> CodeCells => Document.Elements.Where(e => e.KernelName != "markdown");
    public IEnumerable<InteractiveDocumentOutputElement> Outputs => CodeCells.SelectMany(c => c.Outputs);

    public static ExecutedNotebook Load(string path) => new(Jupyter.Notebook.Parse(File.ReadAllText(path)));

    /// <summary>Every error output, as "code cell N: Name: message" (N counts code cells from 1).</summary>
    public IReadOnlyList<string> Errors() =>
        CodeCells.SelectMany((c, i) => c.Outputs.OfType<ErrorElement>().Select(e => $"code cell {i + 1}: {e.ErrorName}: {e.ErrorValue}")).ToList();

    /// <summary>HTML outputs that draw a Plotly chart.</summary>
    public int Charts() => Outputs.Count(o => Html(o) is { } html && html.Contains("Plotly.newPlot("));

    /// <summary>All text the outputs show, every mime type of every output concatenated (for "does it show X" checks).</summary>
    public string ShownText() => string.Concat(Outputs.Select(o => o switch
    {
        TextElement t => t.Text,
        ErrorElement e => e.ErrorName + ": " + e.ErrorValue,
        DisplayElement d => string.Concat(d.Data.Values.Select(Text)),
        ReturnValueElement r => string.Concat(r.Data.Values.Select(Text)),
        _ => "",
    }));

    public static string? Html(InteractiveDocumentOutputElement output) =>
        Data(output) is { } data && data.TryGetValue("text/html", out var html) ? Text(html) : null;

    public static IDictionary<string, object>? Data(InteractiveDocumentOutputElement output) => output switch
    {
        DisplayElement d => d.Data,
        ReturnValueElement r => r.Data,
        _ => null,
    };

    /// <summary>An nbformat multi-line value (a string, or lines as an array) as one string.</summary>
    public static string Text(object? value) => value switch
    {
        null => "",
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } j => j.GetString() ?? "",
        JsonElement { ValueKind: JsonValueKind.Array } j => string.Concat(j.EnumerateArray().Select(x => x.GetString())),
        IEnumerable lines => string.Concat(lines.Cast<object?>().Select(Text)),
        _ => value.ToString() ?? "",
    };
}
