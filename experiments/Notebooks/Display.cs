using System.Collections;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Plotly.NET;
using TorchSharp;

namespace SmVL.Experiments.Notebooks.Script;

/// <summary>
/// What a notebook cell sees as globals, modelled on dotnet-interactive: <c>display(x)</c> and the
/// notebook's own location, so notebooks can find the repository (<c>NotebookDirectory/..</c>).
/// </summary>
public sealed class NotebookGlobals(string notebookPath)
{
    public string NotebookPath { get; } = Path.GetFullPath(notebookPath);
    public string NotebookDirectory => Path.GetDirectoryName(NotebookPath)!;

    /// <summary>Shows <paramref name="value"/> as a display_data output; <paramref name="mimeType"/> forces one representation.</summary>
    public DisplayedValue display(object? value, string? mimeType = null) => CellOutput.Display(value, mimeType);
}

/// <summary><c>x.Display()</c>, as in dotnet-interactive.</summary>
public static class DisplayExtensions
{
    public static DisplayedValue Display(this object? value, string? mimeType = null) => CellOutput.Display(value, mimeType);
}

/// <summary>A display_data output that can be replaced in place (a live counter, say).</summary>
public sealed class DisplayedValue
{
    private readonly JsonObject _output;
    internal DisplayedValue(JsonObject output) => _output = output;
    public void Update(object? value, string? mimeType = null) => _output["data"] = Formatter.Format(value, mimeType);
}

/// <summary>Turns values into nbformat mime bundles ("data" objects).</summary>
public static class Formatter
{
    private const int MaxItems = 100;

    public static JsonObject Format(object? value, string? mimeType = null)
    {
        if (mimeType is not null)
        {
            string text = value is GenericChart c && mimeType == "text/html" ? SmVL.Plots.Html.ChartDiv(c) : PlainText(value);
            return new JsonObject { [mimeType] = Notebook.Lines(text) };
        }
        var data = new JsonObject();
        if (value is GenericChart chart) data["text/html"] = Notebook.Lines(SmVL.Plots.Html.ChartDiv(chart));
        else if (Table(value) is { } table) data["text/html"] = Notebook.Lines(table);
        data["text/plain"] = Notebook.Lines(PlainText(value));
        return data;
    }

    public static string PlainText(object? value) => value switch
    {
        null => "<null>",
        string s => s,
        GenericChart => "Plotly.NET chart",
        torch.Tensor t => t.ToString(TensorStringStyle.Julia, cultureInfo: CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Take(MaxItems + 1).Select((x, i) => i == MaxItems ? "..." : PlainText(x))) + "]",
        _ => value.ToString() ?? "",
    };

    /// <summary>A sequence of records/objects with public properties becomes an HTML table (first 100 rows).</summary>
    private static string? Table(object? value)
    {
        if (value is string or null || value is not IEnumerable e) return null;
        var rows = e.Cast<object?>().Take(MaxItems + 1).ToList();
        var type = rows.FirstOrDefault()?.GetType();
        if (type is null || type.IsPrimitive || type == typeof(string) || type == typeof(decimal) || rows.Any(r => r?.GetType() != type)) return null;
        var props = type.GetProperties().Where(p => p.GetIndexParameters().Length == 0).ToArray();
        if (props.Length == 0) return null;
        var html = new System.Text.StringBuilder("<table><thead><tr>");
        foreach (var p in props) html.Append("<th>").Append(WebUtility.HtmlEncode(p.Name)).Append("</th>");
        html.Append("</tr></thead><tbody>");
        foreach (var row in rows.Take(MaxItems))
        {
            html.Append("<tr>");
            foreach (var p in props) html.Append("<td>").Append(WebUtility.HtmlEncode(PlainText(p.GetValue(row)))).Append("</td>");
            html.Append("</tr>");
        }
        if (rows.Count > MaxItems) html.Append($"<tr><td colspan=\"{props.Length}\">... (first {MaxItems} rows)</td></tr>");
        return html.Append("</tbody></table>").ToString();
    }
}

/// <summary>
/// The outputs of the cell being run. Console text and display() calls land here in the order they
/// happen; consecutive writes to one stream become one "stream" output, as in Jupyter. Stream text
/// is buffered until another output or the end of the cell, so chatty loops stay linear.
/// </summary>
public sealed class CellOutput
{
    private static readonly AsyncLocal<CellOutput?> _current = new();
    private readonly JsonArray _outputs;
    private readonly object _lock = new();
    private readonly System.Text.StringBuilder _pending = new();
    private string? _pendingStream;

    internal CellOutput(JsonArray outputs) => _outputs = outputs;

    internal static CellOutput? Current { get => _current.Value; set => _current.Value = value; }

    internal static DisplayedValue Display(object? value, string? mimeType) =>
        (Current ?? throw new InvalidOperationException("display() is only available while a notebook cell runs"))
        .AddDisplay(Formatter.Format(value, mimeType));

    internal DisplayedValue AddDisplay(JsonObject data)
    {
        var output = new JsonObject { ["output_type"] = "display_data", ["data"] = data, ["metadata"] = new JsonObject() };
        Add(output);
        return new DisplayedValue(output);
    }

    internal void Add(JsonObject output)
    {
        lock (_lock) { FlushLocked(); _outputs.Add(output); }
    }

    internal void Write(string stream, string text)
    {
        if (text.Length == 0) return;
        lock (_lock)
        {
            if (_pendingStream != stream) { FlushLocked(); _pendingStream = stream; }
            _pending.Append(text);
        }
    }

    internal void Flush() { lock (_lock) FlushLocked(); }

    private void FlushLocked()
    {
        if (_pendingStream is null) return;
        _outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = _pendingStream, ["text"] = Notebook.Lines(_pending.ToString()) });
        _pending.Clear();
        _pendingStream = null;
    }

    /// <summary>
    /// A Console writer for one stream ("stdout"/"stderr"): text written on the cell's own async
    /// flow (threads and tasks it starts inherit it) goes to the cell, anything else (other work in
    /// the same process, such as parallel tests) to the console it replaced.
    /// </summary>
    internal sealed class StreamWriter(string stream, TextWriter fallback) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;
        public override void Write(char value) => Write(value.ToString());
        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));
        public override void Write(string? value)
        {
            if (Current is { } cell) cell.Write(stream, value ?? "");
            else fallback.Write(value);
        }
    }
}
