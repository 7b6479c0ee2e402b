using System.Diagnostics;
using System.Text.Json.Nodes;
using SmVL.Data;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Training;
using static TorchSharp.torch;
using Generator = SmVL.Generation.Generator;

namespace SmVL.Evaluation;

/// <summary>One held-out question about one image, with its reference answer and question type.</summary>
public sealed record VqaExample(string Id, RgbImage Image, string Question, string Answer, string Type)
{
    /// <summary>The conversation: user = [image, question], then the answer when <paramref name="withAnswer"/>.</summary>
    public List<ChatMessage> Messages(bool withAnswer)
    {
        var m = new List<ChatMessage> { ChatMessage.User(ChatPart.Image(), ChatPart.TextPart(Question)) };
        if (withAnswer) m.Add(ChatMessage.Assistant(Answer));
        return m;
    }

    /// <summary>
    /// One example per turn of single-image samples (a turn is asked on its own, without the earlier
    /// ones). Type: TinyWorld's question type, else the subset.
    /// </summary>
    public static IEnumerable<VqaExample> From(IEnumerable<VqaSample> samples)
    {
        foreach (var s in samples)
        {
            if (s.Images.Count != 1) throw new InvalidDataException($"{s.Id}: {s.Images.Count} images; VQA evaluation asks about one image per sample");
            var image = s.DecodeImage();
            for (int t = 0; t < s.Turns.Count; t++)
            {
                var turn = s.Turns[t];
                yield return new VqaExample(s.Turns.Count == 1 ? s.Id : $"{s.Id}#{t}", image, turn.User, turn.Assistant, turn.QuestionType ?? s.Subset);
            }
        }
    }
}

public sealed record VqaEvalOptions
{
    public int BatchSize { get; init; } = 16;
    /// <summary>Greedy by default; the stop and pad ids should be the model folder's (<see cref="LoadedModel.Generation"/>).</summary>
    public GenerationOptions Generation { get; init; } = new() { MaxNewTokens = 40 };
    /// <summary>Chat-template variables; the tiny world trains without thinking, so its prompts end in an empty think block.</summary>
    public IDictionary<string, object?>? TemplateVars { get; init; } = ChatTemplate.NoThinking;
    /// <summary>Also run the teacher-forced pass for the eval loss (assistant-only labels).</summary>
    public bool EvalLoss { get; init; } = true;
    public bool Progress { get; init; } = true;

}

/// <summary>
/// The outcome of one evaluation: the predictions, exact-match accuracy (overall and per type,
/// with majority baselines), the teacher-forced loss per answer token (null when not asked for),
/// and LLaMA-Factory's BLEU-4 / ROUGE on the raw predictions.
/// </summary>
public sealed record VqaEvalResult(IReadOnlyList<PredictionRow> Predictions, VqaReport Accuracy, double? EvalLoss,
                                   long EvalTokens, SimilarityScores Similarity, double Seconds)
{
    public JsonObject ToJson()
    {
        var perType = new JsonObject();
        foreach (var g in Accuracy.PerType) perType[g.Type] = Group(g);
        return new JsonObject
        {
            ["count"] = Accuracy.Overall.Count,
            ["correct"] = Accuracy.Overall.Correct,
            ["accuracy"] = Accuracy.Overall.Accuracy,
            ["majority_baseline"] = Accuracy.Overall.MajorityBaseline,
            ["eval_loss"] = EvalLoss,
            ["eval_tokens"] = EvalTokens,
            ["bleu4"] = Similarity.Bleu4,
            ["rouge1"] = Similarity.Rouge1,
            ["rouge2"] = Similarity.Rouge2,
            ["rougeL"] = Similarity.RougeL,
            ["per_type"] = perType,
            ["seconds"] = Seconds,
        };
    }

    private static JsonObject Group(VqaGroupScore g) => new()
    {
        ["count"] = g.Count, ["correct"] = g.Correct, ["accuracy"] = g.Accuracy,
        ["majority_answer"] = g.MajorityAnswer, ["majority_baseline"] = g.MajorityBaseline,
    };
}

/// <summary>
/// Held-out VQA evaluation of a stitched model: greedy answers (exact match after
/// <see cref="VqaAccuracy.Normalize"/>), the eval loss of the reference answers under teacher forcing,
/// and BLEU-4/ROUGE of the predictions against the references. SmVL answers in left-padded batches;
/// llama.cpp (an exported GGUF pair) answers the same prompts one at a time.
/// </summary>
public static class VqaEvaluation
{
    public static VqaEvalResult Run(SmolVLMForConditionalGeneration model, Processor processor, IReadOnlyList<VqaExample> examples,
                                    VqaEvalOptions? options = null)
    {
        var o = options ?? new VqaEvalOptions();
        model.eval();
        var device = model.parameters().First().device;
        using var noGrad = no_grad();
        return Score(processor, examples, o, (chunk, prompts, loss) =>
        {
            using var result = Generator.Generate(model, prompts.Select(p => p.InputIds).ToList(), Processor.PixelValues(prompts)?.to(device), o.Generation);
            if (o.EvalLoss)
            {
                var answered = chunk.Select(ex => processor.Process(ex.Messages(withAnswer: true), [ex.Image], LabelPolicy.AssistantOnly, templateVars: o.TemplateVars)).ToList();
                using var batch = processor.Collate(answered).To(device);
                loss(CausalLMLoss.Sum(model, batch).item<float>(), batch.LabelledTokens);
            }
            return result.Tokens;
        });
    }

    /// <summary>The same evaluation with llama.cpp answering (no eval loss: llama.cpp scores no reference answers here).</summary>
    public static VqaEvalResult Run(LlamaCppGenerator llama, Processor processor, IReadOnlyList<VqaExample> examples, VqaEvalOptions? options = null)
    {
        var o = (options ?? new VqaEvalOptions()) with { EvalLoss = false };
        return Score(processor, examples, o, (chunk, prompts, _) => chunk.Select((ex, i) => llama.Generate(prompts[i].InputIds, o.Generation.MaxNewTokens,
            o.Generation.EosTokenIds, [processor.Images.ForEngine(ex.Image)], processor.ImageTokenId).Tokens).ToList());
    }

    /// <summary>Answers per chunk of examples from <paramref name="answer"/> (token ids per prompt; it reports loss sums and token counts when it scores the references).</summary>
    private static VqaEvalResult Score(Processor processor, IReadOnlyList<VqaExample> examples, VqaEvalOptions o,
                                       Func<VqaExample[], List<ProcessedSample>, Action<double, long>, IReadOnlyList<long[]>> answer)
    {
        if (examples.Count == 0) throw new ArgumentException("no examples to evaluate");
        var clock = Stopwatch.StartNew();
        var rows = new List<PredictionRow>(examples.Count);
        double lossSum = 0;
        long tokens = 0;
        var bar = o.Progress ? new ProgressBar("eval", examples.Count) : null;
        foreach (var chunk in examples.Chunk(o.BatchSize))
        {
            using var scope = NewDisposeScope();
            var prompts = chunk.Select(ex => processor.Process(ex.Messages(withAnswer: false), [ex.Image], addGenerationPrompt: true, templateVars: o.TemplateVars)).ToList();
            var answers = answer(chunk, prompts, (sum, count) => { lossSum += sum; tokens += count; });
            for (int i = 0; i < chunk.Length; i++)
            {
                var ex = chunk[i];
                string text = processor.Tokenizer.Decode(answers[i].Select(t => (int)t), skipSpecialTokens: true);
                rows.Add(new PredictionRow(ex.Id, ex.Question, ex.Answer, text, VqaAccuracy.Matches(text, ex.Answer), ex.Type));
            }
            bar?.Report(rows.Count, $"acc {(double)rows.Count(r => r.Correct) / rows.Count:P0}");
        }
        var accuracy = VqaAccuracy.Score(rows.Select(r => new VqaItem(r.Type, r.Reference, r.Prediction)).ToList());
        var similarity = TextSimilarity.Compute(rows.Select(r => (r.Prediction, r.Reference)));
        return new VqaEvalResult(rows, accuracy, o.EvalLoss && tokens > 0 ? lossSum / tokens : null, tokens, similarity, clock.Elapsed.TotalSeconds);
    }
}
