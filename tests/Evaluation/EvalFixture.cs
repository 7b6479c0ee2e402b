using System.Text.Json;

namespace SmVL.Tests.Evaluation;

/// <summary>
/// tests/fixtures/eval/expected.json, written by compute_expected.py there (standard library
/// only; its numbers were also checked against nltk 3.8 and rouge-chinese 1.0.3 themselves).
/// </summary>
public static class EvalFixture
{
    private static readonly Lazy<JsonElement> Root = new(() =>
        JsonDocument.Parse(File.ReadAllText(Fixtures.Dir("eval", "expected.json"))).RootElement);

    /// <summary>A case of LLaMA-Factory's similarity metrics: tokens are jieba's words, characters the stand-in segmentation's.</summary>
    public sealed record Sample(string Prediction, string Reference, string[] PredictionTokens, string[] ReferenceTokens,
                                string[] PredictionCharacters, string[] ReferenceCharacters,
                                double Bleu4, double Rouge1F, double Rouge2F, double RougeLF);

    public static IReadOnlyList<Sample> Samples => Root.Value.GetProperty("similarity").GetProperty("samples").EnumerateArray()
        .Select(s => new Sample(s.GetProperty("prediction").GetString()!, s.GetProperty("reference").GetString()!,
            s.GetProperty("prediction_tokens").EnumerateArray().Select(t => t.GetString()!).ToArray(),
            s.GetProperty("reference_tokens").EnumerateArray().Select(t => t.GetString()!).ToArray(),
            s.GetProperty("prediction_characters").EnumerateArray().Select(t => t.GetString()!).ToArray(),
            s.GetProperty("reference_characters").EnumerateArray().Select(t => t.GetString()!).ToArray(),
            s.GetProperty("bleu4").GetDouble(), s.GetProperty("rouge1_f").GetDouble(),
            s.GetProperty("rouge2_f").GetDouble(), s.GetProperty("rougeL_f").GetDouble()))
        .ToList();

    /// <summary>Python jieba's words (LLaMA-Factory's ROUGE tokens) for a wider set of strings.</summary>
    public static IReadOnlyList<(string Text, string[] Words)> JiebaCases => Root.Value.GetProperty("jieba_cases").EnumerateArray()
        .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("words").EnumerateArray().Select(w => w.GetString()!).ToArray()))
        .ToList();

    public static JsonElement CorpusPercent => Root.Value.GetProperty("similarity").GetProperty("corpus_percent");
    public static JsonElement Vqa => Root.Value.GetProperty("vqa");
}
