using System.CommandLine;
using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Training;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl eval --model DIR --data PATH --out DIR [--limit N] [--subset S] [--split eval] [--batch N]
/// [--max-new-tokens N] [--no-loss] [--gguf TEXT --mmproj FILE]`: score a stitched model on held-out Cauldron-format
/// parquet (a tiny run's DIR/data: subset tinyworld_zh, split eval) and write predictions.jsonl, metrics.json and
/// report.html. With --gguf, llama.cpp answers from the model's GGUF export (`export --format gguf`) instead:
/// the same prompts, SmVL's crops through mtmd, so its predictions compare row by row with SmVL's.
/// A model trained by `train` on a Cauldron recipe (its run folder's experiment.json) is scored on that
/// recipe's held-out rows by default: The Cauldron has only a train split, and the recipe's first rows
/// are the ones the run never trained on. Scoring other rows of that split needs --allow-training-rows.
/// </summary>
public sealed class EvalVerb : IVerb
{
    public string Name => "eval";
    public string Summary => "--model DIR --data PATH --out DIR [--limit N] [--subset tinyworld_zh] [--split eval] [--batch N] [--max-new-tokens N] [--no-loss] [--gguf TEXT --mmproj FILE]: VQA accuracy, loss, BLEU/ROUGE, report";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder (a run's model/)", required: true),
        Opt.Text("data", "Cauldron-format parquet root (a tiny run's data/)", required: true),
        Opt.Text("out", "report folder: predictions.jsonl, metrics.json, report.html", required: true),
        Opt.Int("limit", "score at most this many questions", min: 1),
        Opt.Text("subset", "subset to score (default tinyworld_zh)"),
        Opt.Text("split", "split to score (default eval)"),
        Opt.Int("batch", "questions generated at once (default 16)", min: 1),
        Opt.Int("max-new-tokens", "answer length cap (default 40)", min: 1),
        Opt.Flag("no-loss", "skip the eval loss"),
        Opt.Text("gguf", "answer with llama.cpp from this text-model GGUF (the model folder's export; needs --mmproj)"),
        Opt.Text("mmproj", "the mmproj GGUF that goes with --gguf"),
        Opt.Flag("allow-training-rows", "score a Cauldron split the model trained on (default: its recipe's held-out rows only)"),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelDir = args.Require("model"), dataDir = args.Require("data"), outDir = args.Require("out");
        string split = args.Get("split") ?? "eval", subset = args.Get("subset") ?? "tinyworld_zh";
        int limit = args.Int("limit", int.MaxValue);

        var trainedOn = TrainedOn(modelDir);
        List<VqaExample> examples;
        CauldronReader reader;
        if (trainedOn is not null && !args.Has("subset") && !args.Has("split"))
        {
            reader = new CauldronReader(dataDir, "train");
            var recipe = ExperimentRunner.Recipe(trainedOn);
            examples = VqaExample.From(recipe.Select(reader).Eval()).Take(limit).ToList();
            Console.Error.WriteLine($"note: {trainedOn.Name} trained on recipe '{recipe.Name}': scoring its {examples.Count} held-out rows");
        }
        else
        {
            if (trainedOn is not null && split == "train" && !args.Flag("allow-training-rows"))
                throw new CliException($"{modelDir} was trained on split 'train' of this data ({trainedOn.Name}); drop --subset/--split to score its held-out rows, or pass --allow-training-rows");
            reader = new CauldronReader(dataDir, split);
            if (!reader.Subsets().Contains(subset))
                throw new CliException($"{dataDir}: no subset '{subset}' in split '{split}' (found: {string.Join(", ", reader.Subsets().DefaultIfEmpty("none"))})");
            examples = VqaExample.From(reader.ReadSubset(subset)).Take(limit).ToList();
        }
        if (reader.BadRows.Total > 0) Console.Error.WriteLine(reader.BadRows);
        if (examples.Count == 0) throw new CliException($"{dataDir}: subset '{subset}' split '{split}' has no readable samples");

        using var loaded = GenerateVerb.Load(modelDir);
        var options = new VqaEvalOptions
        {
            BatchSize = args.Int("batch", 16), EvalLoss = !args.Flag("no-loss"),
            Generation = loaded.Generation with { MaxNewTokens = args.Int("max-new-tokens", 40) },
        };
        VqaEvalResult result;
        if (args.Get("gguf") is { } gguf)
        {
            string mmproj = args.Get("mmproj") ?? throw new CliException("--gguf needs --mmproj (the images go through it)");
            using var llama = LlamaCppGenerator.Load(gguf, mmproj, threads: Environment.ProcessorCount);
            result = VqaEvaluation.Run(llama, loaded.Processor, examples, options);
        }
        else if (args.Has("mmproj")) throw new CliException("--mmproj goes with --gguf");
        else result = VqaEvaluation.Run(loaded.Model, loaded.Processor, examples, options);
        EvalReport.Write(outDir, result, examples, modelDir, dataDir);

        var o = result.Accuracy.Overall;
        Console.WriteLine($"{o.Count} questions: accuracy {o.Accuracy:P1} (majority baseline {o.MajorityBaseline:P1})" +
                          (result.EvalLoss is { } l ? $", eval loss {l:F4}" : "") +
                          $", BLEU-4 {result.Similarity.Bleu4:F2}, ROUGE-1/2/L {result.Similarity.Rouge1:F2}/{result.Similarity.Rouge2:F2}/{result.Similarity.RougeL:F2}");
        foreach (var g in result.Accuracy.PerType)
            Console.WriteLine($"  {g.Type,-10} {g.Accuracy,7:P1} of {g.Count,4}   baseline {g.MajorityBaseline:P1} (\"{g.MajorityAnswer}\")");
        Console.WriteLine($"wrote {Path.Combine(outDir, "predictions.jsonl")}, metrics.json, report.html");
        return Task.FromResult(0);
    }

    /// <summary>The Cauldron experiment a model folder was trained by (RUN/model beside RUN/experiment.json), else null.</summary>
    private static Experiment? TrainedOn(string modelDir)
    {
        string file = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelDir).TrimEnd('/'))!, "experiment.json");
        if (!File.Exists(file)) return null;
        var experiment = Experiment.Load(file);
        return experiment.Data.Recipe == "tinyworld" ? null : experiment;
    }
}
