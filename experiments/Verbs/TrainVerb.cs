using System.CommandLine;
using SmVL.TinyWorld;
using SmVL.Training;
using TorchSharp;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl train --experiment FILE --out DIR [--resume] [--max-steps N] [--data DIR] [--device cpu|cuda]`:
/// run one experiment file (experiments/*.json) into DIR. `--max-steps` stops early without
/// changing the schedule (its total stays the file's steps), so a capped run is a prefix of the
/// full one and `--resume` finishes it bitwise as if never interrupted.
/// </summary>
public sealed class TrainVerb : IVerb
{
    public string Name => "train";
    public string Summary => "train --experiment FILE --out DIR [--resume] [--max-steps N] [--data DIR] [--device cpu|cuda]";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("experiment", "experiment file (experiments/*.json)", required: true),
        Opt.Text("out", "run folder: checkpoints, metrics.jsonl, TensorBoard events, the trained model", required: true),
        Opt.Flag("resume", "continue from the run folder's latest complete checkpoint (bitwise as if never stopped)"),
        Opt.Long("max-steps", "stop after this many steps; the schedule keeps the file's total", min: 1),
        Opt.Text("data", "data folder overriding the experiment's data.root"),
        Opt.Text("device", "cpu or cuda (default: cuda when libtorch has it, SMVL_DEVICE overrides)", oneOf: ["cpu", "cuda"]),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string file = args.Require("experiment");
        string outDir = args.Require("out");
        if (!File.Exists(file)) throw new CliException($"--experiment: no such file: {file}");
        Experiment experiment;
        try { experiment = Experiment.Load(file); }
        catch (InvalidDataException e) { throw new CliException(e.Message); }
        long? maxSteps = args.Long("max-steps");
        string? data = args.Get("data");
        if (data is not null && !Directory.Exists(data) && experiment.Data.Recipe != "tinyworld")
            throw new CliException($"--data: no such directory: {data}");
        var device = args.Get("device") switch
        {
            null => Devices.Default,
            "cpu" => torch.CPU,
            "cuda" when torch.cuda.is_available() => torch.CUDA,
            _ => throw new CliException("--device cuda: this libtorch has no CUDA"),
        };
        var options = new ExperimentRunOptions { Resume = args.Flag("resume"), MaxSteps = maxSteps, DataDir = data, Device = device, Cancel = cancel,
                                             TinyWorld = new TinyWorldRun(TinySettings.ForExperiment(experiment), outDir) { Cancel = cancel } };
        using var runner = new ExperimentRunner(experiment, outDir, options);
        ExperimentRunResult result;
        try { result = runner.Run(); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException) { throw new CliException($"{file}: {e.Message}"); }
        string last = result.Losses.Count > 0 ? $", last loss {result.Losses[^1]:F4}" : "";
        Console.WriteLine($"{experiment.Name}: step {result.Step}/{experiment.Train.Steps}{last}; metrics {Path.Combine(outDir, "metrics.jsonl")}" +
                          (result.Finished ? $"; model {result.ModelDir}" : "; not finished: continue with --resume"));
        return Task.FromResult(0);
    }
}
