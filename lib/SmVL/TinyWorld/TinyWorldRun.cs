using System.Diagnostics;
using System.Text.Json.Nodes;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Plots;
using SmVL.Processing;
using SmVL.Stitching;
using SmVL.Training;

namespace SmVL.TinyWorld;

/// <summary>One run's outcome (a curve of the blog's figure plus its accuracy).</summary>
public sealed record TinyRunResult(string Name, double Accuracy, IReadOnlyDictionary<string, double> AccuracyByType,
                                   double MaxConnectorGradNorm, IReadOnlyList<double> Losses, long Trainable, long Total,
                                   IReadOnlyList<PredictionRow> Predictions);

/// <summary>
/// The blog's experiment in miniature (the main job), through the real code paths: the tiny world
/// written as Cauldron parquet; the tiny parents as HF folders (<see cref="TinyParents"/>); each
/// run an <see cref="Experiment"/> (the same records as experiments/tiny-*.json) run by the
/// <see cref="ExperimentRunner"/>, the one run path; greedy generation on the held-out questions
/// for accuracy. Runs: connector-only (the reference recipe), broken wiring with only the connector
/// trainable (the red curve) and with full fine-tuning (the blue curve), and with
/// <c>includeFull</c> connector + head and LoRA. It is also the <see cref="ITinyWorld"/> that gives
/// "tiny" its meaning in any experiment file.
/// </summary>
public sealed class TinyWorldRun(TinySettings settings, string outDir, Action<string>? log = null) : ITinyWorld
{
    private readonly TinySettings _s = settings;
    private readonly Action<string> _log = log ?? Console.WriteLine;

    /// <summary>Checked between training steps and between runs (Ctrl+C): the run stops with an <see cref="OperationCanceledException"/>.</summary>
    public CancellationToken Cancel { get; init; }

    /// <summary>
    /// The main job's runs as experiment definitions: run directory name and experiment. With the
    /// default settings these are experiments/tiny-*.json, so `train --experiment` reproduces any one.
    /// </summary>
    public static IReadOnlyList<(string Run, Experiment Experiment)> Experiments(TinySettings s, bool includeFull = true)
    {
        Experiment Make(string name, string description, bool broken, FreezePolicy policy) => new()
        {
            Name = name, Description = description,
            Parents = new ParentsSpec { Vlm = Experiment.Tiny, Lm = Experiment.Tiny },
            Data = new DataSpec { Recipe = "tinyworld", TrainSize = s.TrainImages, EvalSize = s.EvalImages, Seed = s.Seed },
            Stitch = new StitchSpec { ConnectorInit = ConnectorInit.Name(s.ConnectorInit), BrokenWiring = broken, Seed = s.Seed },
            Freeze = new FreezeSpec { Policy = Freezing.Name(policy), Lora = policy == FreezePolicy.Lora ? new LoraSpec { Rank = 8, Alpha = 16 } : null },
            Train = new TrainOptions
            {
                Steps = s.Steps, GradAccum = 1, MicroBatch = s.MicroBatch, LearningRate = s.LearningRate, Schedule = "cosine", WarmupRatio = s.WarmupRatio,
                EvalEvery = Math.Max(1, (int)(s.Steps / 5)), EvalBatches = 2, SaveEvery = (int)s.Steps, KeepLast = 1,
            },
            MaxLength = 2048,
            LabelPolicy = "assistant-only",
        };
        var runs = new List<(string, Experiment)>
        {
            ("stitched", Make("tiny-connector", "Tiny world, the default stitch: correct wiring, only the new connector trains (the blog's orange curve).", false, FreezePolicy.ConnectorOnly)),
            ("broken_frozen", Make("tiny-broken-frozen", "Tiny world, broken wiring (merger keeps the parent's image-token id), connector only: grad norm exactly 0, loss flat (the blog's red curve).", true, FreezePolicy.ConnectorOnly)),
        };
        if (includeFull)
        {
            runs.Add(("broken_full", Make("tiny-broken-full", "Tiny world, broken wiring with a full fine-tune: the loss falls but no image feature reaches the LM (the blog's blue curve).", true, FreezePolicy.Full)));
            runs.Add(("connector_head", Make("tiny-connector-head", "Tiny world, connector + untied LM head (what the blog claimed to train; the tied head made it connector-only there).", false, FreezePolicy.ConnectorAndHead)));
            runs.Add(("lora", Make("tiny-lora", "Tiny world, connector + LoRA r8/alpha16 on q/k/v/o of the LM (LLaMA-Factory style, dropout 0).", false, FreezePolicy.Lora)));
        }
        return runs;
    }

    public TinyWorldResult Run(bool includeFull = true)
    {
        var clock = Stopwatch.StartNew();
        var dataDir = Path.Combine(outDir, "data");
        var export = TinyWorldExport.Write(dataDir, _s.TrainImages, _s.EvalImages, _s.Seed);
        _log($"data: {export.Train.Total} train / {export.Eval.Total} eval questions written as Cauldron parquet in {export.Elapsed.TotalSeconds:F1}s");
        var parents = Parents();
        var evalReader = new CauldronReader(dataDir, "eval");
        var eval = VqaExample.From(evalReader.ReadSubset("tinyworld_zh")).ToList();
        if (evalReader.BadRows.Total > 0) _log(evalReader.BadRows.ToString());
        var runs = TrainAll(Experiments(_s, includeFull), dataDir, parents, eval);
        Cancel.ThrowIfCancellationRequested();
        var stats = export.Eval;
        // The same held-out images with every run's answer side by side (the blind model next to the working one).
        var gallery = eval.Take(12).Select((e, i) => new GalleryEntry(ImageCodec.EncodePng(e.Image), e.Question, e.Answer,
            runs.Select(r => (r.Name, r.Predictions[i].Prediction)).ToList())).ToList();
        var result = new TinyWorldResult(runs, stats.OverallBaseline, stats.Types.ToDictionary(t => t, stats.MajorityBaseline), clock.Elapsed.TotalSeconds, _s.Steps, gallery,
            ParentsJson(parents.VlmDir, parents.LmDir));
        result.Write(outDir);
        return result;
    }

    /// <summary>
    /// The runs side by side, one lane per core (<see cref="CoreShare"/>), each lane taking the next run
    /// when it is free, longest first (<see cref="LongestFirst"/>) so the lanes finish close together;
    /// on one core one after another. Every run trains on one libtorch thread
    /// whatever the core count, so the results never depend on it, and one thread per small run does
    /// more than two: its operations are too small for a second thread to help. A failing run stops
    /// the other lanes at their next step.
    /// </summary>
    private List<TinyRunResult> TrainAll(IReadOnlyList<(string Run, Experiment Experiment)> experiments, string dataDir, StitchParents parents,
                                         IReadOnlyList<VqaExample> eval)
    {
        var results = new TinyRunResult[experiments.Count];
        var order = LongestFirst(experiments.Select(e => e.Experiment).ToList());
        int next = -1;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        void Lane(CoreShare _)
        {
            try
            {
                for (int k; (k = Interlocked.Increment(ref next)) < order.Length;)
                {
                    int i = order[k];
                    results[i] = TrainOne(experiments[i].Run, experiments[i].Experiment, dataDir, parents, eval, stop.Token);
                }
            }
            catch
            {
                stop.Cancel();
                throw;
            }
        }
        int lanes = Math.Clamp(_s.Cores, 1, experiments.Count);
        CoreShare.Run(Enumerable.Range(1, lanes).Select(k => new CoreShare.Job($"runs {k}", Lane, MaxThreads: 1)).ToList(), _s.Cores, shares: lanes);
        return [.. results];
    }

    /// <summary>
    /// The order in which the lanes take the runs: the runs that update the vocabulary-sized matrices
    /// (full fine-tune, connector + head) first, since their optimizer steps over 151,936 rows make them the
    /// longest, then the rest in their given order; among equals, more steps first.
    /// </summary>
    public static int[] LongestFirst(IReadOnlyList<Experiment> runs) =>
        [.. Enumerable.Range(0, runs.Count)
            .OrderByDescending(i => Freezing.Parse(runs[i].Freeze.Policy) is FreezePolicy.Full or FreezePolicy.ConnectorAndHead)
            .ThenByDescending(i => runs[i].Train.Steps)];

    private TinyRunResult TrainOne(string run, Experiment experiment, string dataDir, StitchParents parents, IReadOnlyList<VqaExample> eval, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        _log($"\n== {run}: {experiment.Description}");
        double maxConnectorGrad = 0;
        string runDir = Path.Combine(outDir, run);
        using var runner = new ExperimentRunner(experiment, runDir, new ExperimentRunOptions
        {
            DataDir = dataDir, TinyWorld = this, Log = _log, Cancel = cancel,
            OnStep = (_, row) => maxConnectorGrad = Math.Max(maxConnectorGrad, row.GetValueOrDefault("grad_norm_connector")),
        });
        var trained = runner.Run();
        var evaluation = VqaEvaluation.Run(runner.Model!, parents.Processor, eval, new VqaEvalOptions { Generation = Generation(parents.Processor, parents.Text), EvalLoss = false, Progress = false });
        PredictionsFile.Write(Path.Combine(runDir, "predictions.jsonl"), evaluation.Predictions);
        double acc = evaluation.Accuracy.Overall.Accuracy;
        _log($"{run}: accuracy {acc:P1}; connector grad norm max {maxConnectorGrad:G4}");
        return new TinyRunResult(run, acc, evaluation.Accuracy.PerType.ToDictionary(g => g.Type, g => g.Accuracy), maxConnectorGrad,
            trained.Losses, trained.Trainable, trained.Total, evaluation.Predictions);
    }

    /// <summary>Greedy answers of up to 40 tokens, stopping at the text side's eos.</summary>
    public static GenerationOptions Generation(Processor processor, TextSide text) => new()
    {
        MaxNewTokens = 40, EosTokenIds = text.EosTokenIds.Select(i => (long)i).ToArray(), PadTokenId = processor.PadTokenId,
    };

    /// <summary>The tiny parents (built on first use, cached by their settings) and the tiny processor.</summary>
    public StitchParents Parents()
    {
        var processor = TinyParents.CreateProcessor();
        string vlm, lm;
        try { (vlm, lm) = TinyParents.Folders(_s, processor, _log, Cancel); }
        catch (OperationCanceledException e) when (Cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException("stopped while the tiny parents were being built; those already built stay cached: run the same command again to go on", e, Cancel);
        }
        return new StitchParents(processor, vlm, lm, TextSide.From(processor, TinyParents.EosTokenId));
    }

    /// <summary>
    /// The tiny world for an experiment's data spec: data.root, or a cache directory named by seed
    /// and sizes; written once (to a temp directory, then renamed) and reused.
    /// </summary>
    public string Data(DataSpec d)
    {
        if (d.TrainSize is not { } trainSize) throw new InvalidDataException("data.train_size is required for the tinyworld recipe");
        string dir = d.Root is { } root ? ExperimentRunner.Resolve(root) : Path.Combine(Paths.Cache, "data", $"tinyworld-s{d.Seed}-n{trainSize}-e{d.EvalSize}");
        if (File.Exists(Path.Combine(dir, "tinyworld_vocab.json"))) return dir;   // written last: the export is complete
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new InvalidDataException($"{dir} is neither empty nor a complete tiny-world export");
        string tmp = dir.TrimEnd('/') + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        var export = TinyWorldExport.Write(tmp, checked((int)trainSize), checked((int)d.EvalSize), d.Seed);
        if (Directory.Exists(dir)) Directory.Delete(dir);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(dir))!);
        Directory.Move(tmp, dir);
        _log($"tiny world written to {dir} in {export.Elapsed.TotalSeconds:F1}s");
        return dir;
    }

    /// <summary>Where the parents are and what they learned: how far each side can carry the stitched model.</summary>
    private static JsonObject ParentsJson(string vlmDir, string lmDir)
    {
        JsonNode? Read(string dir, string file) => File.Exists(Path.Combine(dir, file)) ? JsonNode.Parse(File.ReadAllText(Path.Combine(dir, file))) : null;
        return new JsonObject
        {
            ["qwen3"] = new JsonObject
            {
                ["dir"] = lmDir,
                ["pretraining"] = "Chinese scene sketches (the image-prompt layout with one code word per image token) followed by a question and its answer; compact vocabulary, exported to 151,936 rows",
                ["reading_accuracy"] = Read(lmDir, "reading_accuracy.json"),
            },
            ["smolvlm"] = new JsonObject
            {
                ["dir"] = vlmDir,
                ["pretraining"] = "vision tower on a dense task: for every image token, a linear head regresses onto the one-hot of its class (empty, or the shape×colour whose centre is in its cell)",
                ["seeing_accuracy"] = Read(vlmDir, "seeing_accuracy.json"),
            },
        };
    }
}
