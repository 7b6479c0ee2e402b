using System.Text.Json;
using System.Text.Json.Nodes;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// An nbformat 4 notebook kept as a JSON tree, so fields the runner does not know survive the
/// round trip. Cells are views onto that tree.
/// </summary>
public sealed class Notebook
{
    public JsonObject Root { get; }
    public IReadOnlyList<NotebookCell> Cells { get; }
    public IEnumerable<NotebookCell> CodeCells => Cells.Where(c => c.Kind == "code");

    private Notebook(JsonObject root)
    {
        Root = root;
        if (root["nbformat"]?.GetValue<int>() is not 4)
            throw new InvalidDataException($"not an nbformat 4 notebook (nbformat = {root["nbformat"]?.ToJsonString() ?? "missing"})");
        var cells = root["cells"] as JsonArray ?? throw new InvalidDataException("notebook has no \"cells\" array");
        Cells = cells.Select((c, i) => new NotebookCell(c as JsonObject ?? throw new InvalidDataException($"cell {i + 1} is not an object"))).ToList();
    }

    public static Notebook Parse(string json) =>
        new(JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException("notebook JSON is not an object"));

    public static Notebook Load(string path)
    {
        try { return Parse(File.ReadAllText(path)); }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>
    /// Cell ids are required from nbformat 4.5 on; give missing ones a stable id (from the index,
    /// so re-running does not churn diffs) and raise the minor version to match.
    /// </summary>
    public void EnsureCellIds()
    {
        var used = Cells.Select(c => c.Id).OfType<string>().ToHashSet();
        for (int i = 0; i < Cells.Count; i++)
        {
            if (Cells[i].Id is not null) continue;
            string id = $"cell-{i + 1}";
            for (int k = 2; used.Contains(id); k++) id = $"cell-{i + 1}-{k}";
            Cells[i].Json["id"] = id;
            used.Add(id);
        }
        if ((Root["nbformat_minor"]?.GetValue<int>() ?? 0) < 5) Root["nbformat_minor"] = 5;
    }

    public string ToJson() => Root.ToJsonString(JsonOptions) + "\n";

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        IndentSize = 1, // Jupyter's own indent, so executed notebooks diff cleanly against hand-saved ones
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>nbformat multi-line strings: one array element per line, each but the last ending in "\n".</summary>
    public static JsonArray Lines(string text)
    {
        var arr = new JsonArray();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') { arr.Add(text[start..(i + 1)]); start = i + 1; }
        if (start < text.Length) arr.Add(text[start..]);
        return arr;
    }

    /// <summary>Joins an nbformat multi-line string (a string or an array of strings).</summary>
    public static string Text(JsonNode? node) => node switch
    {
        null => "",
        JsonArray a => string.Concat(a.Select(x => x?.GetValue<string>() ?? "")),
        _ => node.GetValue<string>(),
    };
}

public sealed class NotebookCell(JsonObject json)
{
    public JsonObject Json { get; } = json;
    public string Kind => Json["cell_type"]?.GetValue<string>() ?? "";
    public string? Id => Json["id"]?.GetValue<string>();
    public string Source => Notebook.Text(Json["source"]);

    /// <summary>The cell's Polyglot language; a code cell without Polyglot metadata counts as C#.</summary>
    public string Language =>
        Json["metadata"]?["dotnet_interactive"]?["language"]?.GetValue<string>()
        ?? Json["metadata"]?["polyglot_notebook"]?["kernelName"]?.GetValue<string>()
        ?? "csharp";

    public JsonArray Outputs
    {
        get
        {
            if (Json["outputs"] is JsonArray a) return a;
            var fresh = new JsonArray();
            Json["outputs"] = fresh;
            return fresh;
        }
    }

    /// <summary>Forget any previous run: no outputs, no execution count.</summary>
    public void Clear()
    {
        Json["outputs"] = new JsonArray();
        Json["execution_count"] = null;
    }
}
