using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>How to run an experiment file, beyond what the file says.</summary>
public sealed record ExperimentRunOptions
{
    /// <summary>Continue from the run directory's latest checkpoint (same schedule, same data positions).</summary>
    public bool Resume { get; init; }
    /// <summary>Stops training at the next step boundary, after a checkpoint (Ctrl+C in the CLI).</summary>
    public CancellationToken Cancel { get; init; }
    /// <summary>
    /// Stop after this many optimizer steps. The schedule keeps the file's total, so a capped run is
    /// a prefix of the full one and `--resume` later finishes it exactly.
    /// </summary>
    public long? MaxSteps { get; init; }
    /// <summary>Data directory overriding data.root (a Cauldron root, or where the tiny world is exported).</summary>
    public string? DataDir { get; init; }
    public Device? Device { get; init; }
    /// <summary>What parents "tiny" and the "tinyworld" recipe mean (null: such a file is refused).</summary>
    public ITinyWorld? TinyWorld { get; init; }
    /// <summary>Called after every optimizer step with the step and its metrics row.</summary>
    public Action<long, IReadOnlyDictionary<string, double>>? OnStep { get; init; }
    public bool Progress { get; init; } = true;
    public bool Tensorboard { get; init; } = true;
    public Action<string> Log { get; init; } = Console.WriteLine;
}

/// <summary>What a run reached.</summary>
/// <param name="ModelDir">the saved HF folder, written only when the schedule completed</param>
public sealed record ExperimentRunResult(string RunDir, long Step, bool Finished, IReadOnlyList<double> Losses,
                                         long Trainable, long Total, string? ModelDir);

/// <summary>
/// The one run path: runs one experiment into a run directory. Resolve the parents ("tiny" → the
/// tiny-world parents; otherwise HF folders), resolve the data (the tiny world exported as
/// Cauldron parquet, or a Cauldron recipe), stitch (<see cref="Stitcher.Stitch"/>: the three
/// surgery steps, the last one skipped for the broken wiring), apply the freeze policy (LoRA
/// adapters first when asked), print the parameter table, train, and save the stitched model as
/// an HF folder (LoRA merged) when the schedule is done. The `train` verb and the tiny world's
/// main job both run through here. Relative paths in the file are under the cache directory (data/README.md's layout).
/// The run directory holds `experiment.json`, `metrics.jsonl`, `tb/`, `checkpoints/` and `model/`.
/// </summary>
public sealed class ExperimentRunner(Experiment experiment, string runDir, ExperimentRunOptions? options = null) : IDisposable
{
    private readonly ExperimentRunOptions _o = options ?? new ExperimentRunOptions();
    private string Name => experiment.Name;

    /// <summary>The stitched model, after <see cref="Run"/> (LoRA already merged when the run finished).</summary>
    public SmolVLMForConditionalGeneration? Model { get; private set; }
    public Trainer? Trainer { get; private set; }

    public ExperimentRunResult Run()
    {
        Directory.CreateDirectory(runDir);
        RecordExperiment();
        var device = _o.Device ?? CPU;
        var parents = Parents();
        var processor = parents.Processor;
        var (train, eval) = Data(processor, device);

        manual_seed(experiment.Stitch.Seed);
        // The embedding-norm init looks at the vision features of the first training batch.
        using (var first = experiment.ConnectorInit == ConnectorInitKind.MatchEmbeddingNorm ? train.Get(0) : null)
            Model = Stitcher.Stitch(parents.VlmDir, parents.LmDir, processor, parents.Text,
                new StitchOptions(experiment.ConnectorInit, experiment.Stitch.Seed, experiment.Stitch.BrokenWiring, first?.PixelValues));
        if (device.type != DeviceType.CPU) Model.to(device);
        if (experiment.ToLoraOptions() is { } lora) Lora.Apply(Model, lora);
        Freezing.Apply(Model, experiment.Policy);
        FrozenPrecision.Apply(Model, experiment.Policy, experiment.FrozenDtype, device, _o.Log);
        _o.Log($"{Name}: {(Stitcher.WiringIsIntact(Model, processor.ImageTokenId) ? "wiring intact" : $"BROKEN wiring (merger looks for {Model.model.MergerImageTokenId}, the processor writes {processor.ImageTokenId})")}, " +
               $"connector init {ConnectorInit.Name(experiment.ConnectorInit)}, freeze {Freezing.Name(experiment.Policy)}");
        _o.Log(Freezing.Summary(Model));
        var table = Freezing.Table(Model);

        var trainOptions = experiment.Train with
        {
            Progress = _o.Progress,
            ProgressLabel = Name,
            // Eval batches never wrap: at most one pass over the held-out set.
            EvalBatches = eval is null ? 0 : (int)Math.Min(experiment.Train.EvalBatches, eval.BatchesPerPass),
        };
        Trainer = new Trainer(Model, trainOptions, runDir) { Tensorboard = _o.Tensorboard, Log = _o.Log };
        if (_o.Resume && !TrainState.Completed(runDir).Any()) _o.Log($"{Name}: --resume but no checkpoint in {TrainState.Dir(runDir)}; starting at step 0");
        Trainer.Run(train, eval, _o.Resume, _o.MaxSteps, _o.OnStep, _o.Cancel);
        if (train.Truncated + train.Dropped > 0)
            _o.Log($"{Name}: {train.Truncated} samples cut to max_length {experiment.MaxLength} (image tokens intact), {train.Dropped} left out (max_length fell inside their image tokens)");

        bool finished = Trainer.Step >= experiment.Train.Steps;
        string? modelDir = null;
        if (finished)
        {
            if (experiment.Policy == FreezePolicy.Lora) Lora.MergeAndUnload(Model);   // a plain HF folder
            modelDir = Path.Combine(runDir, "model");
            Stitcher.Save(Model, modelDir);
            ModelFolder.SaveProcessor(processor, modelDir);   // tokenizer, chat template, image settings: the folder stands alone
            _o.Log($"{Name}: model saved to {modelDir}");
        }
        return new ExperimentRunResult(runDir, Trainer.Step, finished, Trainer.Losses, table.Sum(r => r.trainable), table.Sum(r => r.total), modelDir);
    }

    /// <summary>Writes experiment.json; a resume refuses a run directory made by a different definition.</summary>
    private void RecordExperiment()
    {
        string path = Path.Combine(runDir, "experiment.json");
        if (_o.Resume && File.Exists(path) && File.ReadAllText(path).Trim() != experiment.ToJson().Trim())
            throw new InvalidOperationException($"{path}: this run directory was made by a different definition of '{Name}'; resume it with that one or use a new --out");
        experiment.Save(path);
    }

    /// <summary>The processor, both parent folders and the text side the stitch hands the model.</summary>
    private StitchParents Parents()
    {
        bool tinyVlm = experiment.Parents.Vlm == Experiment.Tiny, tinyLm = experiment.Parents.Lm == Experiment.Tiny;
        if (tinyVlm != tinyLm)
            throw new InvalidDataException($"{Name}: parents.vlm and parents.lm must both be \"tiny\" or both be folders (the tiny parents share their own tokenizer and image sizes)");
        if (tinyVlm) return Tiny("parents \"tiny\"").Parents();
        return StitchParents.Qwen3SmVL(Folder(experiment.Parents.Vlm, "parents.vlm"), Folder(experiment.Parents.Lm, "parents.lm"));
    }

    private ITinyWorld Tiny(string what) => _o.TinyWorld
        ?? throw new InvalidOperationException($"{Name}: {what} needs the tiny world, which this caller did not provide");

    private string Folder(string path, string field)
    {
        string dir = Resolve(path);
        if (!File.Exists(Path.Combine(dir, "config.json")))
            throw new FileNotFoundException($"{Name}: {field} '{path}' → {dir} has no config.json (download it as data/README.md says, or give an absolute path)");
        return dir;
    }

    /// <summary>Relative paths of an experiment file live under the cache directory.</summary>
    public static string Resolve(string path) => Path.IsPathRooted(path) ? path : Path.Combine(Paths.Cache, path);

    private (VqaBatches train, VqaBatches? eval) Data(Processor processor, Device device)
    {
        var d = experiment.Data;
        var policy = experiment.Labels;
        IReadOnlyList<VqaSample> evalSamples;
        ISampleSequence trainSamples;
        if (d.Recipe == "tinyworld")
        {
            string dir = Tiny("data recipe \"tinyworld\"").Data(_o.DataDir is { } given ? d with { Root = Path.GetFullPath(given) } : d);
            // Written in generation order; trained in the order of a permutation seeded by the data seed.
            var rows = new CauldronReader(dir, "train").ReadSubset("tinyworld_zh").ToList();
            var train = TrainingOrder.Permutation(rows.Count, d.Seed).Select(i => rows[i]).ToList();
            evalSamples = new CauldronReader(dir, "eval").ReadSubset("tinyworld_zh").ToList();
            trainSamples = new SampleList(train);
            _o.Log($"{Name}: tiny world from {dir}: {train.Count} train / {evalSamples.Count} eval questions");
        }
        else
        {
            string root = _o.DataDir ?? Resolve(d.Root ?? "data/the_cauldron");
            if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"{Name}: Cauldron root {root} not found (give --data DIR or data.root; see data/README.md)");
            var selection = Recipe(experiment).Select(new CauldronReader(root, "train"));
            if (selection.TotalRows == 0)
                throw new InvalidDataException($"{Name}: no rows for subsets {string.Join(", ", selection.Recipe.Subsets)} under {root}\n{selection.BadRows}");
            evalSamples = selection.Eval();
            trainSamples = selection.TrainSequence;
            _o.Log($"{Name}: {selection.TotalRows} rows in {selection.Shards.Count} row groups under {root}; {evalSamples.Count} eval, then up to {selection.Recipe.TrainCount?.ToString() ?? "all"} training samples");
        }
        var trainBatches = new VqaBatches(processor, trainSamples, experiment.Train.MicroBatch, policy, experiment.MaxLength, device);
        var evalBatches = experiment.Train.EvalEvery > 0 && evalSamples.Count > 0
            ? new VqaBatches(processor, new SampleList(evalSamples), experiment.Train.MicroBatch, policy, experiment.MaxLength, device, wrap: false)
            : null;
        return (trainBatches, evalBatches);
    }

    /// <summary>The experiment's Cauldron recipe: "cauldron" is the reference's 21-subset pool, other names as <see cref="CauldronRecipe.ByName"/>; the file's subsets and sizes win.</summary>
    public static CauldronRecipe Recipe(Experiment experiment)
    {
        var d = experiment.Data;
        var named = d.Recipe == "cauldron" ? CauldronRecipe.Qwen3SmVL(d.Seed) : CauldronRecipe.ByName(d.Recipe, d.Seed);
        return named with
        {
            Subsets = d.Subsets ?? named.Subsets,
            EvalCount = checked((int)d.EvalSize),
            TrainCount = d.TrainSize is { } n ? checked((int)n) : named.TrainCount,
        };
    }

    public void Dispose()
    {
        Trainer?.Dispose();
        Model?.Dispose();
    }
}
