using SmVL.Data;
namespace SmVL.TinyWorld;

/// <summary>A question about a scene in one language, with its exact answer.</summary>
public sealed record TinyQuestion(TinyQuestionType Type, string Language, string Text, string Answer)
{
    /// <summary>The Cauldron `source` value, e.g. "tinyworld/zh/count".</summary>
    public string Source => $"{QaTurn.TinyWorldPrefix}{Language}/{TinyWorldVocabulary.TypeName(Type)}";
}

/// <summary>One generated sample: the scene and the same question in Chinese and English.</summary>
public sealed record TinyWorldSample(int Index, TinyScene Scene, TinyQuestion Zh, TinyQuestion En)
{
    public TinyQuestion Question(string lang) => lang == "zh" ? Zh : lang == "en" ? En : throw new ArgumentException($"no TinyWorld language '{lang}'");
}

/// <summary>
/// Deterministic TinyWorld generator. For every sample it first draws the question type and the
/// answer from shuffled bags (each type, and each answer within a type, comes up equally often), then
/// builds a scene that makes that answer true. So the answer cannot be guessed from the question, and
/// each type's majority baseline is 1/k. Questions that presume a unique shape ("what colour is the
/// triangle?") get scenes with exactly one of it; left/right targets keep clear of the centre line;
/// shapes never overlap.
/// </summary>
public sealed class TinyWorldGenerator
{
    public const int MinSide = 32, MaxSide = 96, MaxShapes = 4, MinShapeSize = 10;
    /// <summary>Minimum gap in pixels between shape bounding boxes.</summary>
    public const double Gap = 2;

    private static readonly ShapeKind[] Kinds = Enum.GetValues<ShapeKind>();
    private static readonly ShapeColour[] Colours = Enum.GetValues<ShapeColour>();

    private readonly SeededRandom _rng;
    private readonly Bag<TinyQuestionType> _types;
    private readonly Bag<int> _counts;
    private readonly Bag<ShapeColour> _colours;
    private readonly Bag<bool> _exists;
    private readonly Bag<ShapeSide> _sides;
    private int _index;

    /// <param name="stream">Separate streams give disjoint samples from one seed (train 0, eval 1).</param>
    public TinyWorldGenerator(long seed, long stream = 0)
    {
        _rng = new SeededRandom(seed, stream);
        _types = new(_rng, Enum.GetValues<TinyQuestionType>());
        _counts = new(_rng, Enumerable.Range(0, TinyWorldVocabulary.MaxCountAnswer + 1).ToArray());
        _colours = new(_rng, Colours);
        _exists = new(_rng, [true, false]);
        _sides = new(_rng, [ShapeSide.Left, ShapeSide.Right]);
    }

    public IEnumerable<TinyWorldSample> Generate(int count)
    {
        for (int i = 0; i < count; i++) yield return Next();
    }

    public TinyWorldSample Next()
    {
        var type = _types.Next();
        var kind = Kinds[_rng.NextInt(Kinds.Length)];
        var colour = Colours[_rng.NextInt(Colours.Length)];
        Func<string, (string Q, string A)> text;
        TinyScene scene;
        switch (type)
        {
            case TinyQuestionType.Count:
            {
                int n = _counts.Next();
                int total = _rng.NextInt(Math.Max(1, n), MaxShapes);
                var wanted = Enumerable.Range(0, total).Select(i => i < n ? (kind, RandomColour()) : (OtherKind(kind), RandomColour())).ToList();
                scene = Build(wanted, null);
                text = l => (l == "zh" ? $"图中有几个{Zh(kind)}？" : $"How many {TinyWorldVocabulary.Plural(kind)} are there?", TinyWorldVocabulary.Number(n, l));
                break;
            }
            case TinyQuestionType.Colour:
            {
                colour = _colours.Next();
                scene = Build(UniquePlus(kind, colour), null);
                text = l => (l == "zh" ? $"{Zh(kind)}是什么颜色？" : $"What colour is the {En(kind)}?", TinyWorldVocabulary.Name(colour, l));
                break;
            }
            case TinyQuestionType.Exists:
            {
                bool yes = _exists.Next();
                int total = _rng.NextInt(1, MaxShapes);
                var wanted = new List<(ShapeKind, ShapeColour)>();
                if (yes) wanted.Add((kind, colour));
                while (wanted.Count < total)
                {
                    // Distractors are any other kind/colour pair, so "no" scenes often hold the kind or the colour asked about.
                    var pair = (Kinds[_rng.NextInt(Kinds.Length)], RandomColour());
                    if (yes || pair != (kind, colour)) wanted.Add(pair);
                }
                scene = Build(wanted, null);
                text = l => (l == "zh" ? $"图中有{TinyWorldVocabulary.Name(colour, l)}的{Zh(kind)}吗？" : $"Is there a {TinyWorldVocabulary.Name(colour, l)} {En(kind)}?", TinyWorldVocabulary.YesNo(yes, l));
                break;
            }
            case TinyQuestionType.LeftRight:
            {
                var side = _sides.Next();
                scene = Build(UniquePlus(kind, colour), side);
                text = l => (l == "zh" ? $"{Zh(kind)}在左边还是右边？" : $"Is the {En(kind)} on the left or the right?", TinyWorldVocabulary.Name(side, l));
                break;
            }
            default:
            {
                int total = _rng.NextInt(1, MaxShapes);
                scene = Build(Enumerable.Range(0, total).Select(_ => (Kinds[_rng.NextInt(Kinds.Length)], RandomColour())).ToList(), null);
                var s = scene;
                text = l => (l == "zh" ? "描述这张图片。" : "Describe this image.", s.Caption(l));
                break;
            }
        }
        var (qz, az) = text("zh");
        var (qe, ae) = text("en");
        return new TinyWorldSample(_index++, scene, new TinyQuestion(type, "zh", qz, az), new TinyQuestion(type, "en", qe, ae));
    }

    private static string Zh(ShapeKind k) => TinyWorldVocabulary.Name(k, "zh");
    private static string En(ShapeKind k) => TinyWorldVocabulary.Name(k, "en");
    private ShapeColour RandomColour() => Colours[_rng.NextInt(Colours.Length)];
    private ShapeKind OtherKind(ShapeKind k) => Kinds.Where(x => x != k).ElementAt(_rng.NextInt(Kinds.Length - 1));

    /// <summary>One shape of the given kind and colour, plus 0–3 shapes of other kinds (so it is unique).</summary>
    private List<(ShapeKind, ShapeColour)> UniquePlus(ShapeKind kind, ShapeColour colour)
    {
        int total = _rng.NextInt(1, MaxShapes);
        return Enumerable.Range(0, total).Select(i => i == 0 ? (kind, colour) : (OtherKind(kind), RandomColour())).ToList();
    }

    /// <summary>
    /// Image size, background and non-overlapping placements for the wanted shapes; the first shape is
    /// kept on <paramref name="firstSide"/> when given. Retries layouts (then sizes) until everything fits.
    /// </summary>
    private TinyScene Build(List<(ShapeKind Kind, ShapeColour Colour)> wanted, ShapeSide? firstSide)
    {
        while (true)
        {
            int w = _rng.NextInt(MinSide, MaxSide), h = _rng.NextInt(MinSide, MaxSide);
            int maxSize = Math.Max(MinShapeSize, (int)(0.3 * Math.Min(w, h)));
            for (int attempt = 0; attempt < 20; attempt++)
            {
                var placed = new List<TinyShape>();
                foreach (var (kind, colour) in wanted)
                {
                    var shape = Place(kind, colour, _rng.NextInt(MinShapeSize, maxSize), w, h, placed.Count == 0 ? firstSide : null, placed);
                    if (shape is null) break;
                    placed.Add(shape);
                }
                if (placed.Count < wanted.Count) continue;
                // Shuffle so the constrained shape is not always first in the list.
                var shapes = placed.ToArray();
                _rng.Shuffle(shapes.AsSpan());
                bool noisy = _rng.NextInt(2) == 1;
                int grey = _rng.NextInt(200, 248);
                byte[] background = [.. Enumerable.Range(0, 3).Select(_ => (byte)Math.Clamp(grey + _rng.NextInt(-6, 6), 0, 255))];
                return new TinyScene(w, h, background, noisy ? _rng.NextInt(2, 6) : 0, _rng.NextUInt64(), shapes);
            }
        }
    }

    private TinyShape? Place(ShapeKind kind, ShapeColour colour, int size, int w, int h, ShapeSide? side, List<TinyShape> placed)
    {
        double half = size / 2.0, lo = half + 1, hi = w - half - 1;
        if (side == ShapeSide.Left) hi = Math.Min(hi, w / 2.0 - TinyScene.Clearance - half);
        if (side == ShapeSide.Right) lo = Math.Max(lo, w / 2.0 + TinyScene.Clearance + half);
        if (hi < lo || h - 2 * half - 2 < 0) return null;
        for (int t = 0; t < 50; t++)
        {
            // Quarter-pixel positions: varied sub-pixel edges, short exact numbers in the scene JSON.
            double cx = Math.Round(_rng.NextDouble(lo, hi) * 4) / 4;
            double cy = Math.Round(_rng.NextDouble(half + 1, h - half - 1) * 4) / 4;
            var s = new TinyShape(kind, colour, Math.Clamp(cx, lo, hi), cy, size);
            if (Straddles(s.Left, s.Right, w) || Straddles(s.Top, s.Bottom, h)) continue;
            if (placed.All(p => s.Left >= p.Right + Gap || p.Left >= s.Right + Gap || s.Top >= p.Bottom + Gap || p.Top >= s.Bottom + Gap))
                return s;
        }
        return null;
    }

    /// <summary>
    /// Whether a shape's extent comes within the clearance of the image's centre line. Shapes keep
    /// clear of both centre lines, so every shape is on a side and lies whole in one quadrant: the image
    /// processor's tiles split an image at its centre lines (2×2 tiles of an image whose longest edge is
    /// twice the tile size), and a shape cut in two by a tile edge has no one tile that shows all of it.
    /// </summary>
    private static bool Straddles(double from, double to, int side) =>
        to > side / 2.0 - TinyScene.Clearance && from < side / 2.0 + TinyScene.Clearance;

    /// <summary>Draws without replacement from a shuffled copy of the items, refilling when empty:
    /// every item comes up equally often in each full round.</summary>
    private sealed class Bag<T>(SeededRandom rng, T[] items)
    {
        private readonly T[] _items = items.ToArray();
        private int _next = items.Length;

        public T Next()
        {
            if (_next == _items.Length) { rng.Shuffle(_items.AsSpan()); _next = 0; }
            return _items[_next++];
        }
    }
}
