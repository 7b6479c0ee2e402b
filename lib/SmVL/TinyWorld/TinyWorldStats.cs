using SmVL.Data;
using System.Text;

namespace SmVL.TinyWorld;

/// <summary>
/// Answer distribution per question type and its majority-class baseline: the accuracy of always
/// giving the most common answer, which a model must beat to show it looks at the image.
/// </summary>
public sealed class TinyWorldStats
{
    private readonly SortedDictionary<string, Dictionary<string, int>> _answers = new(StringComparer.Ordinal);

    public void Add(string type, string answer)
    {
        if (!_answers.TryGetValue(type, out var hist)) _answers[type] = hist = new();
        hist[answer] = hist.GetValueOrDefault(answer) + 1;
    }

    public static TinyWorldStats From(IEnumerable<TinyQuestion> questions)
    {
        var stats = new TinyWorldStats();
        foreach (var q in questions) stats.Add(TinyWorldVocabulary.TypeName(q.Type), q.Answer);
        return stats;
    }

    public IEnumerable<string> Types => _answers.Keys;
    public int Count(string type) => _answers.TryGetValue(type, out var h) ? h.Values.Sum() : 0;
    public int Total => _answers.Values.Sum(h => h.Values.Sum());
    public IReadOnlyDictionary<string, int> Answers(string type) => _answers.TryGetValue(type, out var h) ? h : new Dictionary<string, int>();

    /// <summary>Possible answers of a type: the closed set's size, or for the open caption the distinct answers seen.</summary>
    public int Classes(string type) =>
        TinyWorldVocabulary.Answers(TinyWorldVocabulary.ParseType(type), "en").Count is > 0 and var k ? k : Answers(type).Count;

    public double MajorityBaseline(string type) => Count(type) == 0 ? 0 : (double)Answers(type).Values.Max() / Count(type);

    /// <summary>Overall majority baseline: per-type majority answers, weighted by type frequency.</summary>
    public double OverallBaseline => Total == 0 ? 0 : (double)_answers.Values.Sum(h => h.Values.Max()) / Total;

    public override string ToString()
    {
        var sb = new StringBuilder($"{"type",-10} {"n",7} {"k",5} {"majority",9} {"1/k+.05",8}  answers\n");
        foreach (var type in Types)
        {
            var top = Answers(type).OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(5).Select(kv => $"{kv.Key}:{kv.Value}");
            int k = Classes(type);
            sb.AppendLine($"{type,-10} {Count(type),7} {k,5} {MajorityBaseline(type),9:F3} {1.0 / k + 0.05,8:F3}  {string.Join(" ", top)}{(Answers(type).Count > 5 ? " ..." : "")}");
        }
        sb.Append($"{"overall",-10} {Total,7} {"",5} {OverallBaseline,9:F3}");
        return sb.ToString();
    }
}
