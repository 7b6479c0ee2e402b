using System.Text.Json;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// Checkpoints of a run: `checkpoints/step_000050/` with the trainable parameters
/// (`trainable.safetensors`), the optimizer state (`optimizer.safetensors`) and `state.json` (step, wall
/// time, and where the next micro-batch starts in the data when the source can say). Written to a temp directory and renamed into place, so an interruption never leaves a
/// half-written checkpoint; the last K are kept. No random numbers are drawn during training
/// (no dropout; data is indexed by step), so the step is the whole data/RNG position. LoRA dropout
/// &gt; 0 draws random numbers whose generator state is not checkpointed: such a resume is not bitwise.
/// </summary>
public static class TrainState
{
    public static string Dir(string runDir) => Path.Combine(runDir, "checkpoints");

    public static void Save(string runDir, long step, IReadOnlyList<(string name, Parameter p)> trainable,
                            AdamW optimizer, int keepLast, double elapsedSeconds, string? dataPosition = null)
    {
        string root = Dir(runDir), final = Path.Combine(root, $"step_{step:D6}"), tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        Safetensors.Save(Path.Combine(tmp, "trainable.safetensors"), trainable.Select(t => new KeyValuePair<string, Tensor>(t.name, t.p)));
        optimizer.Save(Path.Combine(tmp, "optimizer.safetensors"));
        File.WriteAllText(Path.Combine(tmp, "state.json"), new JsonObject { ["step"] = step, ["elapsed_s"] = elapsedSeconds, ["data_position"] = dataPosition }.ToJsonString());
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);
        foreach (var old in Completed(runDir).SkipLast(Math.Max(1, keepLast))) Directory.Delete(old, true);
    }

    /// <summary>Completed checkpoint directories, oldest first.</summary>
    public static IEnumerable<string> Completed(string runDir) =>
        Directory.Exists(Dir(runDir))
            ? Directory.GetDirectories(Dir(runDir), "step_*").Where(d => !d.EndsWith(".tmp") && File.Exists(Path.Combine(d, "state.json"))).OrderBy(d => d)
            : Enumerable.Empty<string>();

    /// <summary>
    /// Restore the newest checkpoint that reads back whole into the trainables + optimizer; returns
    /// its step (0 if none) and the data position it recorded (null if none). A damaged one (truncated, corrupt, a tensor missing) is reported through
    /// <paramref name="log"/> and the one before it is tried: each attempt overwrites every trainable
    /// and all optimizer state, so nothing of a failed attempt survives.
    /// </summary>
    public static long TryResume(string runDir, AdamW optimizer, IReadOnlyList<(string name, Parameter p)> trainable, Action<string> log,
                                 out string? dataPosition)
    {
        dataPosition = null;
        foreach (var dir in Completed(runDir).Reverse())
        {
            try { return Restore(dir, optimizer, trainable, out dataPosition); }
            catch (Exception e) when (e is CheckpointException or IOException or JsonException or InvalidDataException or KeyNotFoundException or InvalidOperationException)
            {
                log($"checkpoint {dir} is damaged ({e.Message}); trying the one before it");
            }
        }
        if (Completed(runDir).Any()) throw new CheckpointException(Dir(runDir), null, "no checkpoint reads back whole: start again without --resume");
        return 0;
    }

    private static long Restore(string latest, AdamW optimizer, IReadOnlyList<(string name, Parameter p)> trainable, out string? dataPosition)
    {
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(latest, "state.json")))!;
        long step = state["step"]!.GetValue<long>();
        dataPosition = state["data_position"]?.GetValue<string>();
        var saved = Safetensors.Load(Path.Combine(latest, "trainable.safetensors"));
        using (no_grad())
            foreach (var (name, p) in trainable)
            {
                if (!saved.TryGetValue(name, out var t)) throw new CheckpointException($"{latest}: trainable parameter '{name}' missing from the checkpoint");
                p.copy_(t);
            }
        foreach (var t in saved.Values) t.Dispose();
        optimizer.Load(Path.Combine(latest, "optimizer.safetensors"));
        if (optimizer.Steps != step) throw new CheckpointException(latest, null, $"state.json says step {step}, the optimizer {optimizer.Steps}");
        return step;
    }

    public static double ElapsedSeconds(string runDir, long step)
    {
        var path = Path.Combine(Dir(runDir), $"step_{step:D6}", "state.json");
        return step > 0 && File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path))!["elapsed_s"]!.GetValue<double>() : 0;
    }
}
