using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace SmVL.Training;

/// <summary>
/// `metrics.jsonl` (one JSON object per line; train rows and eval rows) plus TensorBoard event
/// files (TorchSharp's SummaryWriter) in the run directory. On resume, rows past the resumed step
/// are dropped so the file reads as one uninterrupted run.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly string _path;
    private readonly StreamWriter _writer;
    private readonly TorchSharp.Modules.SummaryWriter? _tb;

    public MetricsLog(string runDir, long resumeStep = 0, bool tensorboard = true)
    {
        Directory.CreateDirectory(runDir);
        _path = Path.Combine(runDir, "metrics.jsonl");
        if (resumeStep > 0 && File.Exists(_path))
        {
            // Keep rows up to the resumed step; a torn last line (killed mid-write) is dropped too.
            var kept = File.ReadAllLines(_path).Where(l => StepOf(l) is { } s && s <= resumeStep).ToArray();
            File.WriteAllLines(_path, kept);
        }
        else if (File.Exists(_path)) File.Delete(_path);
        _writer = new StreamWriter(new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        if (tensorboard) _tb = torch.utils.tensorboard.SummaryWriter(Path.Combine(runDir, "tb"));
    }

    private static long? StepOf(string line)
    {
        if (string.IsNullOrWhiteSpace(line)) return null;
        try { return JsonNode.Parse(line)?["step"]?.GetValue<long>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    public void Write(long step, IReadOnlyDictionary<string, double> values)
    {
        var row = new JsonObject { ["step"] = step };
        foreach (var (k, v) in values)
        {
            row[k] = double.IsFinite(v) ? v : null;
            if (_tb is not null && double.IsFinite(v)) _tb.add_scalar(k, (float)v, (int)step);
        }
        _writer.WriteLine(row.ToJsonString());
    }

    public static List<JsonObject> Read(string runDirOrFile)
    {
        var path = Directory.Exists(runDirOrFile) ? Path.Combine(runDirOrFile, "metrics.jsonl") : runDirOrFile;
        return File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
    }

    public void Dispose()
    {
        _writer.Dispose();
    }
}
