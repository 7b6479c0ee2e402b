using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace SmVL.Training;

/// <summary>
/// `metrics.jsonl` (one JSON object per line; train rows and eval rows) plus TensorBoard event
/// files (TorchSharp's SummaryWriter) in `tb/`. Each row carries its wall time (`time`, Unix
/// seconds). On resume, rows past the resumed step are dropped so the file reads as one
/// uninterrupted run, and the event files are written anew from the rows kept (with their own wall
/// times), so TensorBoard shows each step once, as metrics.jsonl does.
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
        string[] kept = [];
        if (resumeStep > 0 && File.Exists(_path))
        {
            // Keep rows up to the resumed step; a torn last line (killed mid-write) is dropped too.
            kept = File.ReadAllLines(_path).Where(l => StepOf(l) is { } s && s <= resumeStep).ToArray();
            // Written beside and renamed over: a kill during the rewrite leaves the old file, never a cut one.
            File.WriteAllLines(_path + ".tmp", kept);
            File.Move(_path + ".tmp", _path, overwrite: true);
        }
        else if (File.Exists(_path)) File.Delete(_path);
        _writer = new StreamWriter(new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        string tb = Path.Combine(runDir, "tb");
        if (Directory.Exists(tb)) Directory.Delete(tb, true);
        if (!tensorboard) return;
        _tb = torch.utils.tensorboard.SummaryWriter(tb);
        foreach (var row in kept.Select(l => JsonNode.Parse(l)!.AsObject()))
        {
            long? time = row["time"]?.GetValue<double>() is { } t ? (long)t : null;
            foreach (var (k, v) in row)
                if (k is not ("step" or "time") && v is not null) _tb.add_scalar(k, (float)v.GetValue<double>(), (int)row["step"]!.GetValue<long>(), time);
        }
    }

    private static long? StepOf(string line)
    {
        if (string.IsNullOrWhiteSpace(line)) return null;
        try { return JsonNode.Parse(line)?["step"]?.GetValue<long>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    public void Write(long step, IReadOnlyDictionary<string, double> values)
    {
        var now = DateTimeOffset.UtcNow;
        var row = new JsonObject { ["step"] = step, ["time"] = Math.Round(now.ToUnixTimeMilliseconds() / 1000.0, 3) };
        foreach (var (k, v) in values)
        {
            row[k] = double.IsFinite(v) ? v : null;
            if (_tb is not null && double.IsFinite(v)) _tb.add_scalar(k, (float)v, (int)step, now.ToUnixTimeSeconds());
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
