using SmVL.Data;
using System.Text;

namespace SmVL.TinyWorld;

/// <summary>
/// One shape: centre (pixels, continuous coordinates with pixel centres at +0.5) and size (side of
/// its bounding box). Triangles point up; diamonds are squares rotated 45°.
/// </summary>
public sealed record TinyShape(ShapeKind Kind, ShapeColour Colour, double Cx, double Cy, double Size)
{
    public double Left => Cx - Size / 2;
    public double Right => Cx + Size / 2;
    public double Top => Cy - Size / 2;
    public double Bottom => Cy + Size / 2;

    /// <summary>Whether the point lies inside the shape: the rasteriser's coverage test.</summary>
    public bool Contains(double x, double y)
    {
        double dx = x - Cx, dy = y - Cy, h = Size / 2;
        switch (Kind)
        {
            case ShapeKind.Circle: return dx * dx + dy * dy <= h * h;
            case ShapeKind.Square: return Math.Abs(dx) <= h && Math.Abs(dy) <= h;
            case ShapeKind.Diamond: return Math.Abs(dx) + Math.Abs(dy) <= h;
            default:
                // Apex (0,-h), base from (-h,h) to (h,h): the half-width grows from 0 to h.
                return dy >= -h && dy <= h && Math.Abs(dx) <= (dy + h) / 2;
        }
    }
}

/// <summary>
/// A TinyWorld image as data: size, background and shapes. The rendered image, the description and
/// the caption are all functions of this record, so answers can be checked against it.
/// </summary>
public sealed record TinyScene(int Width, int Height, byte[] Background, int NoiseAmplitude, ulong NoiseSeed, IReadOnlyList<TinyShape> Shapes)
{
    /// <summary>A shape counts as left/right only with this many pixels between it and the centre line.</summary>
    public const double Clearance = 2;

    public ShapeSide SideOf(TinyShape s) =>
        s.Right <= Width / 2.0 - Clearance ? ShapeSide.Left :
        s.Left >= Width / 2.0 + Clearance ? ShapeSide.Right : ShapeSide.Middle;

    public int Count(ShapeKind kind) => Shapes.Count(s => s.Kind == kind);

    public bool Has(ShapeKind kind, ShapeColour colour) => Shapes.Any(s => s.Kind == kind && s.Colour == colour);

    /// <summary>Shapes left to right (ties: top to bottom), the order of <see cref="Describe"/>.</summary>
    public IEnumerable<TinyShape> LeftToRight => Shapes.OrderBy(s => s.Cx).ThenBy(s => s.Cy).ThenBy(s => s.Kind).ThenBy(s => s.Colour);

    /// <summary>
    /// The facts of the scene as text, for pretraining a language model to answer from context:
    /// "图中有两个图形，从左到右：红色的圆形（左边），蓝色的正方形（右边）。"
    /// </summary>
    public string Describe(string lang = "zh")
    {
        var items = LeftToRight.Select(s => lang == "zh"
            ? $"{TinyWorldVocabulary.Name(s.Colour, lang)}的{TinyWorldVocabulary.Name(s.Kind, lang)}（{TinyWorldVocabulary.Name(SideOf(s), lang)}）"
            : $"a {TinyWorldVocabulary.Name(s.Colour, lang)} {TinyWorldVocabulary.Name(s.Kind, lang)} ({TinyWorldVocabulary.Name(SideOf(s), lang)})");
        string n = TinyWorldVocabulary.Number(Shapes.Count, lang);
        return lang == "zh"
            ? $"图中有{n}图形，从左到右：{string.Join("，", items)}。"
            : $"There {(Shapes.Count == 1 ? "is" : "are")} {n} shape{(Shapes.Count == 1 ? "" : "s")}, from left to right: {string.Join(", ", items)}.";
    }

    /// <summary>
    /// The caption answer: shapes grouped by (kind, colour) in vocabulary order, e.g.
    /// "一个红色的圆形和两个蓝色的正方形。" / "One red circle and two blue squares."
    /// </summary>
    public string Caption(string lang = "zh")
    {
        var groups = Shapes.GroupBy(s => (s.Kind, s.Colour)).OrderBy(g => g.Key.Kind).ThenBy(g => g.Key.Colour)
            .Select(g => lang == "zh"
                ? $"{TinyWorldVocabulary.Number(g.Count(), lang)}{TinyWorldVocabulary.Name(g.Key.Colour, lang)}的{TinyWorldVocabulary.Name(g.Key.Kind, lang)}"
                : $"{TinyWorldVocabulary.Number(g.Count(), lang)} {TinyWorldVocabulary.Name(g.Key.Colour, lang)} {(g.Count() == 1 ? TinyWorldVocabulary.Name(g.Key.Kind, lang) : TinyWorldVocabulary.Plural(g.Key.Kind))}")
            .ToList();
        var sb = new StringBuilder();
        for (int i = 0; i < groups.Count; i++)
        {
            if (i > 0) sb.Append(i == groups.Count - 1 ? (lang == "zh" ? "和" : " and ") : (lang == "zh" ? "、" : ", "));
            sb.Append(groups[i]);
        }
        if (lang == "en") sb[0] = char.ToUpperInvariant(sb[0]);
        return sb.Append(lang == "zh" ? "。" : ".").ToString();
    }
}
