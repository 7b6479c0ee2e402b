using System.Text.Json.Nodes;

namespace SmVL.Experiments.Notebooks;

/// <summary>
/// Authors Polyglot notebooks from readable (kind, source) lists, so every notebook in the repo
/// carries the same metadata (the one <see cref="NotebookLint"/> checks) and no outputs.
/// <code>NotebookWriter.Write("notebooks/01_x.ipynb", [NotebookWriter.Md("# Title"), NotebookWriter.Code("1 + 1")]);</code>
/// </summary>
public static class NotebookWriter
{
    public enum Kind { Markdown, Code }
    public sealed record Cell(Kind Kind, string Source);

    public static Cell Md(string source) => new(Kind.Markdown, source);
    public static Cell Code(string source) => new(Kind.Code, source);

    public static JsonObject Build(IEnumerable<Cell> cells)
    {
        var arr = new JsonArray();
        int n = 0;
        foreach (var c in cells)
        {
            var cell = new JsonObject
            {
                ["cell_type"] = c.Kind == Kind.Code ? "code" : "markdown",
                ["id"] = $"cell-{++n}",
                ["metadata"] = c.Kind == Kind.Code ? CodeCellMetadata() : new JsonObject(),
                ["source"] = Notebook.Lines(c.Source.Replace("\r\n", "\n").TrimEnd('\n')),
            };
            if (c.Kind == Kind.Code) { cell["execution_count"] = null; cell["outputs"] = new JsonArray(); }
            arr.Add(cell);
        }
        return new JsonObject
        {
            ["cells"] = arr,
            ["metadata"] = new JsonObject
            {
                ["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = NotebookLint.KernelName },
                ["language_info"] = new JsonObject { ["name"] = "csharp" },
                ["polyglot_notebook"] = new JsonObject
                {
                    ["kernelInfo"] = new JsonObject
                    {
                        ["defaultKernelName"] = "csharp",
                        ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["name"] = "csharp" }),
                    },
                },
            },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        };
    }

    public static string ToJson(IEnumerable<Cell> cells) => Build(cells).ToJsonString(Notebook.JsonOptions) + "\n";

    public static void Write(string path, IEnumerable<Cell> cells) => File.WriteAllText(path, ToJson(cells));

    internal static JsonObject CodeCellMetadata() => new()
    {
        ["dotnet_interactive"] = new JsonObject { ["language"] = "csharp" },
        ["polyglot_notebook"] = new JsonObject { ["kernelName"] = "csharp" },
        ["vscode"] = new JsonObject { ["languageId"] = "polyglot-notebook" },
    };
}
