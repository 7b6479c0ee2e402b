using System.Text.Json.Nodes;
using SmVL.Evaluation;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Evaluation;

/// <summary>
/// `eval` end to end on a tiny stitched model rigged to answer 有 ("yes, there is") to every
/// question, with one new token: exactly the questions whose reference is 有 are right.
/// </summary>
public class EvalVerbTests
{
    private static readonly Lazy<(string Model, string Out)> Run = new(() =>
    {
        int yes = Tokenizer.Qwen3().Encode("有").Single();
        string model = TinyVlmKit.SaveRandom(edit: TinyVlmKit.AlwaysAnswer(yes)), outDir = Fixtures.TempDir();
        int rc = Cli.Invoke(new EvalVerb(), ["--model", model, "--data", TinyVlmKit.DataDir, "--out", outDir,
                                                   "--limit", "30", "--max-new-tokens", "1", "--batch", "7"]).GetAwaiter().GetResult();
        Assert.Equal(0, rc);
        return (model, outDir);
    });

    private static List<PredictionRow> Predictions => PredictionsFile.Read(Path.Combine(Run.Value.Out, "predictions.jsonl")).ToList();
    private static JsonNode Metrics => JsonNode.Parse(File.ReadAllText(Path.Combine(Run.Value.Out, "metrics.json")))!;

    [Fact]
    public void PredictionsAreTheRiggedAnswerAndCorrectWhereTheReferenceIsIt()
    {
        var rows = Predictions;
        Assert.Equal(30, rows.Count);
        Assert.All(rows, r => Assert.Equal("有", r.Prediction));
        Assert.All(rows, r => Assert.Equal(r.Reference == "有", r.Correct));
        Assert.Contains(rows, r => r.Correct);              // the first 30 eval questions include "yes" ones
        Assert.Equal(30, rows.Select(r => r.Id).Distinct().Count());
        Assert.Contains("exists", rows.Select(r => r.Type));
    }

    [Fact]
    public void MetricsAgreeWithThePredictionsFile()
    {
        var rows = Predictions;
        var m = Metrics;
        Assert.Equal(rows.Count, (int)m["count"]!);
        Assert.Equal(rows.Count(r => r.Correct), (int)m["correct"]!);
        Assert.Equal((double)rows.Count(r => r.Correct) / rows.Count, (double)m["accuracy"]!, 12);
        var perType = m["per_type"]!.AsObject();
        Assert.Equal(rows.Count, perType.Sum(kv => (int)kv.Value!["count"]!));
        foreach (var (type, g) in perType)
        {
            var mine = rows.Where(r => r.Type == type).ToList();
            Assert.Equal(mine.Count, (int)g!["count"]!);
            Assert.Equal((double)mine.Count(r => r.Correct) / mine.Count, (double)g["accuracy"]!, 12);
            var majority = mine.GroupBy(r => r.Reference).Max(x => x.Count());
            Assert.Equal((double)majority / mine.Count, (double)g["majority_baseline"]!, 12);
        }
        var similarity = TextSimilarity.Compute(rows.Select(r => (r.Prediction, r.Reference)));
        Assert.Equal(similarity.Bleu4, (double)m["bleu4"]!, 9);
        Assert.Equal(similarity.RougeL, (double)m["rougeL"]!, 9);
        double loss = (double)m["eval_loss"]!;
        Assert.True(double.IsFinite(loss) && loss > 0, $"eval loss {loss}");
        Assert.True((long)m["eval_tokens"]! >= rows.Count);   // every answer has at least its token and <|im_end|>
    }

    [Fact]
    public void EvalLossDoesNotDependOnTheBatching()
    {
        var loaded = ModelFolder.Load(Run.Value.Model);
        using var _ = loaded;
        var examples = VqaExample.From(new SmVL.Data.CauldronReader(TinyVlmKit.DataDir, "eval").ReadSubset("tinyworld_zh")).Take(30).ToList();
        var options = new VqaEvalOptions { Generation = loaded.Generation with { MaxNewTokens = 1 }, Progress = false };
        var whole = VqaEvaluation.Run(loaded.Model, loaded.Processor, examples, options with { BatchSize = 30 });
        var ones = VqaEvaluation.Run(loaded.Model, loaded.Processor, examples, options with { BatchSize = 1 });
        Assert.Equal(whole.EvalTokens, ones.EvalTokens);
        Assert.Equal(whole.EvalLoss!.Value, ones.EvalLoss!.Value, 4);
        Assert.Equal((double)Metrics["eval_loss"]!, whole.EvalLoss.Value, 4);   // the verb's batches of 7 too
    }

    [Fact]
    public void ReportHasTheChartsAndTheGallery()
    {
        var html = File.ReadAllText(Path.Combine(Run.Value.Out, "report.html"));
        Assert.Contains("Exact-match accuracy by question type", html);
        Assert.Contains("majority baseline", html);
        foreach (var type in EvalReport.ConfusionTypes.Where(t => Predictions.Any(r => r.Type == t)))
            Assert.Contains($"Confusion: {type} questions", html);
        Assert.Contains("data:image/png;base64,", html);
        SmVL.Tests.Plots.HtmlTests.AssertOffline(html);
    }

    [Fact]
    public async Task AMissingSubsetIsAUsageErrorNamingWhatExists()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new EvalVerb(), 
            ["--model", Run.Value.Model, "--data", TinyVlmKit.DataDir, "--out", Fixtures.TempDir(), "--subset", "nope"]));
        Assert.Contains("nope", e.Message);
        Assert.Contains("tinyworld_zh", e.Message);
    }

    [Fact]
    public async Task AModelTrainedOnACauldronSplitIsNotScoredOnItUnlessAsked()
    {
        string run = Fixtures.TempDir(), model = Path.Combine(run, "model");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(Paths.RepoRoot, "experiments", "cocoqa-200.json"), Path.Combine(run, "experiment.json"));
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new EvalVerb(),
            ["--model", model, "--data", TinyVlmKit.DataDir, "--out", Fixtures.TempDir(), "--split", "train", "--subset", "tinyworld_zh"]));
        Assert.Contains("--allow-training-rows", e.Message);
        Assert.Contains("cocoqa-200", e.Message);
    }
}
