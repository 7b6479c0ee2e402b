using SmVL.Checkpoints;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Models;
using SmVL.Training;
using SmVL.Processing;
using SmVL.Stitching;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Pipelines;

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
    /// <summary>Which tiny-world parents "tiny" means (the cached ones the `tiny` verb builds by default).</summary>
    public TinySettings Tiny { get; init; } = new();
    public bool Progress { get; init; } = true;
    public bool Tensorboard { get; init; } = true;
    public Action<string> Log { get; init; } = Console.WriteLine;
}

/// <summary>What a run reached.</summary>
/// <param name="ModelDir">the saved HF folder, written only when the schedule completed</param>
public sealed record ExperimentRunResult(string RunDir, long Step, bool Finished, IReadOnlyList<double> Losses,
                                         long Trainable, long Total, string? ModelDir);

/// <summary>
/// Runs one experiment file into a run directory: resolve the parents ("tiny" → the tiny-world
/// parents; otherwise HF folders), resolve the data (the tiny world exported as Cauldron parquet,
/// or a Cauldron recipe), stitch (text model swap with or without the broken wiring, fresh
/// connector), apply the freeze policy (LoRA adapters first when asked), print the parameter
/// table, train, and save the stitched model as an HF folder (LoRA merged) when the schedule is
/// done. Relative paths in the file are under the cache directory (data/README.md's layout).
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
        var (processor, vlmDir, lmDir, text) = Parents();
        var (train, eval) = Data(processor, device);

        // Frozen modules stay float32 (issue #5 asked to measure bf16): on this machine's CPU (AMD EPYC,
        // AVX2, no AVX512-BF16/AMX) one forward+backward of the full-size frozen Qwen3-0.6B at seq 512,
        // connector and loss in fp32, took 44-47 CPU-s in fp32 and had not finished after 14 CPU-min
        // with the LM's weights cast to bf16 (scratch benchmark, 2 threads).
        manual_seed(experiment.Stitch.Seed);
        Model = Stitcher.ReplaceTextModel(vlmDir, lmDir, text, experiment.Stitch.BrokenWiring);
        if (device.type != DeviceType.CPU) Model.to(device);
        using (var pixels = experiment.ConnectorInit == ConnectorInitKind.MatchEmbeddingNorm ? SamplePixels(train) : null)
            Stitcher.NewConnector(Model, experiment.ConnectorInit, experiment.Stitch.Seed, pixels);
        if (experiment.ToLoraOptions() is { } lora) Lora.Apply(Model, lora);
        Freezing.Apply(Model, experiment.Policy);
        _o.Log($"{Name}: {(Stitcher.WiringIsIntact(Model) ? "wiring intact" : $"BROKEN wiring (merger looks for {Model.model.MergerImageTokenId}, the processor writes {processor.ImageTokenId})")}, " +
               $"connector init {ConnectorInit.Name(experiment.ConnectorInit)}, freeze {Freezing.Name(experiment.Policy)}");
        _o.Log(Freezing.Summary(Model));
        var table = Freezing.Table(Model);

        var trainOptions = experiment.Train with
        {
            Progress = _o.Progress,
            // Eval batches never wrap: at most one pass over the held-out set.
            EvalBatches = eval is null ? 0 : (int)Math.Min(experiment.Train.EvalBatches, eval.BatchesPerPass),
        };
        Trainer = new Trainer(Model, trainOptions, runDir) { Tensorboard = _o.Tensorboard, Log = _o.Log };
        if (_o.Resume && !TrainState.Completed(runDir).Any()) _o.Log($"{Name}: --resume but no checkpoint in {TrainState.Dir(runDir)}; starting at step 0");
        Trainer.Run(train, eval, _o.Resume, _o.MaxSteps, cancel: _o.Cancel);
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
    private (Processor, string vlm, string lm, TextSide) Parents()
    {
        bool tinyVlm = experiment.Parents.Vlm == Experiment.Tiny, tinyLm = experiment.Parents.Lm == Experiment.Tiny;
        if (tinyVlm != tinyLm)
            throw new InvalidDataException($"{Name}: parents.vlm and parents.lm must both be \"tiny\" or both be folders (the tiny parents share their own tokenizer and image sizes)");
        if (tinyVlm)
        {
            var tiny = new TinyWorldRun(_o.Tiny, runDir, _o.Log);
            var processor = tiny.CreateProcessor();
            var (vlm, lm) = tiny.Parents(processor);
            return (processor, vlm, lm, new TextSide(processor.ImageTokenId, new[] { TinyWorldRun.EosTokenId }, TinyWorldRun.PadTokenId));
        }
        string vlmDir = Folder(experiment.Parents.Vlm, "parents.vlm"), lmDir = Folder(experiment.Parents.Lm, "parents.lm");
        var real = Qwen3SmVLProcessor(vlmDir, lmDir);
        return (real, vlmDir, lmDir, Qwen3SmVLTextSide(real, lmDir));
    }

    /// <summary>What the stitch hands the model for real parents: the processor's image and pad ids, Qwen3's &lt;|im_end|&gt; as the stop.</summary>
    public static TextSide Qwen3SmVLTextSide(Processor processor, string lmDir)
    {
        int eos = processor.Tokenizer.TokenToId("<|im_end|>") ?? throw new InvalidDataException($"{lmDir}: the tokenizer has no <|im_end|> (not a Qwen3 tokenizer?)");
        return new TextSide(processor.ImageTokenId, new[] { eos }, processor.PadTokenId);
    }

    /// <summary>
    /// The stitched processor for real parents: Qwen3's tokenizer (the LM folder's, else the
    /// npm copy), the Qwen3-SmVL template, the VLM's image processor config and image_seq_len.
    /// </summary>
    public static Processor Qwen3SmVLProcessor(string vlmDir, string lmDir)
    {
        var tokenizer = File.Exists(Path.Combine(lmDir, "tokenizer.json")) ? Tokenizer.FromFile(lmDir) : Tokenizer.Qwen3();
        string pre = Path.Combine(vlmDir, "preprocessor_config.json");
        var images = File.Exists(pre) ? ImageProcessorConfig.Load(pre) : ImageProcessorConfig.SmolVLM2;
        int pad = tokenizer.TokenToId("<|endoftext|>") ?? throw new InvalidDataException($"{lmDir}: the tokenizer has no <|endoftext|> pad token");
        return new Processor(tokenizer, ChatTemplate.Qwen3SmVL(), new ImageProcessor(images), ImageTokens.Qwen3SmVL(tokenizer),
            HfConfig.Load<SmolVLMConfig>(vlmDir).ImageSeqLen, pad);
    }

    private string Folder(string path, string field)
    {
        string dir = Resolve(path);
        if (!File.Exists(Path.Combine(dir, "config.json")))
            throw new FileNotFoundException($"{Name}: {field} '{path}' → {dir} has no config.json (download it as data/README.md says, or give an absolute path)");
        return dir;
    }

    /// <summary>Relative paths of an experiment file live under the cache directory.</summary>
    private static string Resolve(string path) => Path.IsPathRooted(path) ? path : Path.Combine(Paths.Cache, path);

    private (VqaBatches train, VqaBatches? eval) Data(Processor processor, Device device)
    {
        var d = experiment.Data;
        var policy = experiment.LabelPolicy == "assistant-only" ? LabelPolicy.AssistantOnly : LabelPolicy.FullText;
        IReadOnlyList<VqaSample> evalSamples;
        Func<IEnumerable<VqaSample>> trainSamples;
        if (d.Recipe == "tinyworld")
        {
            string dir = TinyWorldData();
            var train = new CauldronReader(dir, "train").ReadSubset("tinyworld_zh").ToList();
            evalSamples = new CauldronReader(dir, "eval").ReadSubset("tinyworld_zh").ToList();
            trainSamples = () => train;
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
            trainSamples = selection.Train;
            _o.Log($"{Name}: {selection.TotalRows} rows in {selection.Shards.Count} row groups under {root}; {evalSamples.Count} eval, then up to {selection.Recipe.TrainCount?.ToString() ?? "all"} training samples");
        }
        var trainBatches = new VqaBatches(processor, trainSamples, experiment.Train.MicroBatch, policy, experiment.MaxLength, device);
        var evalBatches = experiment.Train.EvalEvery > 0 && evalSamples.Count > 0
            ? new VqaBatches(processor, () => evalSamples, experiment.Train.MicroBatch, policy, experiment.MaxLength, device, wrap: false)
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

    /// <summary>
    /// The tiny world as Cauldron parquet: --data, data.root, or a cache directory named by seed
    /// and sizes; written once (to a temp directory, then renamed) and reused.
    /// </summary>
    private string TinyWorldData()
    {
        var d = experiment.Data;
        if (d.TrainSize is not { } trainSize) throw new InvalidDataException($"{Name}: data.train_size is required for the tinyworld recipe");
        string dir = _o.DataDir ?? (d.Root is { } root ? Resolve(root) : Path.Combine(Paths.Cache, "data", $"tinyworld-s{d.Seed}-n{trainSize}-e{d.EvalSize}"));
        if (File.Exists(Path.Combine(dir, "tinyworld_vocab.json"))) return dir;   // written last: the export is complete
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new InvalidDataException($"{Name}: {dir} is neither empty nor a complete tiny-world export");
        string tmp = dir.TrimEnd('/') + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        var export = TinyWorldExport.Write(tmp, checked((int)trainSize), checked((int)d.EvalSize), d.Seed);
        if (Directory.Exists(dir)) Directory.Delete(dir);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(dir))!);
        Directory.Move(tmp, dir);
        _o.Log($"{Name}: tiny world written to {dir} in {export.Elapsed.TotalSeconds:F1}s");
        return dir;
    }

    /// <summary>Tiles of the first training batch (padding tiles dropped), for the embedding-norm connector init.</summary>
    private static Tensor SamplePixels(VqaBatches train)
    {
        using var scope = NewDisposeScope();
        using var b = train.Get(0);
        var tiles = b.PixelValues!.flatten(0, 1);
        return tiles[tiles.ne(Scalars.Zero).flatten(1).any(1)].MoveToOuterDisposeScope();
    }

    public void Dispose() => Model?.Dispose();
}
