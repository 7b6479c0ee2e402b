using SmVL.Data;
using System.Text.Json;

namespace SmVL.TinyWorld;

public enum ShapeKind { Circle, Square, Triangle, Diamond }

public enum ShapeColour { Red, Green, Blue, Yellow, Purple }

public enum TinyQuestionType { Count, Colour, Exists, LeftRight, Caption }

/// <summary>Which half of the image a shape lies in; Middle when it is within the clearance of the centre line.</summary>
public enum ShapeSide { Left, Right, Middle }

/// <summary>
/// Every word TinyWorld uses, in Chinese (the stitched model's language) and English (the SmolVLM
/// parent's), and the closed answer set of each question type so a trainer can score per type.
/// </summary>
public static class TinyWorldVocabulary
{
    public static readonly IReadOnlyList<string> Languages = ["zh", "en"];
    public const int MaxCountAnswer = 3;

    public static string Name(ShapeKind k, string lang) => Pick(lang, k switch
    {
        ShapeKind.Circle => ("圆形", "circle"),
        ShapeKind.Square => ("正方形", "square"),
        ShapeKind.Triangle => ("三角形", "triangle"),
        _ => ("菱形", "diamond"),
    });

    public static string Plural(ShapeKind k) => Name(k, "en") + "s";

    public static string Name(ShapeColour c, string lang) => Pick(lang, c switch
    {
        ShapeColour.Red => ("红色", "red"),
        ShapeColour.Green => ("绿色", "green"),
        ShapeColour.Blue => ("蓝色", "blue"),
        ShapeColour.Yellow => ("黄色", "yellow"),
        _ => ("紫色", "purple"),
    });

    public static string Name(ShapeSide s, string lang) => Pick(lang, s switch
    {
        ShapeSide.Left => ("左边", "left"),
        ShapeSide.Right => ("右边", "right"),
        _ => ("中间", "middle"),
    });

    /// <summary>"两个" / "two": how many, as a count answer or caption quantity.</summary>
    public static string Number(int n, string lang) => Pick(lang, n switch
    {
        0 => ("零个", "zero"),
        1 => ("一个", "one"),
        2 => ("两个", "two"),
        3 => ("三个", "three"),
        4 => ("四个", "four"),
        _ => throw new ArgumentOutOfRangeException(nameof(n), n, "TinyWorld scenes hold at most 4 shapes"),
    });

    public static string YesNo(bool yes, string lang) => Pick(lang, yes ? ("有", "yes") : ("没有", "no"));

    /// <summary>The source-column name of a type: "count", "colour", "exists", "leftright", "caption".</summary>
    public static string TypeName(TinyQuestionType t) => t.ToString().ToLowerInvariant();

    public static TinyQuestionType ParseType(string name)
    {
        foreach (var t in Enum.GetValues<TinyQuestionType>())
            if (TypeName(t) == name) return t;
        throw new ArgumentException($"unknown TinyWorld question type '{name}'");
    }

    /// <summary>The closed answer set of a type; empty for the open-ended caption.</summary>
    public static IReadOnlyList<string> Answers(TinyQuestionType type, string lang) => type switch
    {
        TinyQuestionType.Count => Enumerable.Range(0, MaxCountAnswer + 1).Select(n => Number(n, lang)).ToList(),
        TinyQuestionType.Colour => Enum.GetValues<ShapeColour>().Select(c => Name(c, lang)).ToList(),
        TinyQuestionType.Exists => [YesNo(true, lang), YesNo(false, lang)],
        TinyQuestionType.LeftRight => [Name(ShapeSide.Left, lang), Name(ShapeSide.Right, lang)],
        _ => [],
    };

    /// <summary>All of the above as JSON (written next to the exported parquet).</summary>
    public static string ToJson() => JsonSerializer.Serialize(Languages.ToDictionary(lang => lang, lang => new
    {
        shapes = Enum.GetValues<ShapeKind>().ToDictionary(k => k.ToString().ToLowerInvariant(), k => Name(k, lang)),
        colours = Enum.GetValues<ShapeColour>().ToDictionary(c => c.ToString().ToLowerInvariant(), c => Name(c, lang)),
        answers = Enum.GetValues<TinyQuestionType>().ToDictionary(TypeName, t => Answers(t, lang)),
    }), new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private static string Pick(string lang, (string Zh, string En) names) => lang switch
    {
        "zh" => names.Zh,
        "en" => names.En,
        _ => throw new ArgumentException($"TinyWorld speaks 'zh' or 'en', not '{lang}'"),
    };
}
