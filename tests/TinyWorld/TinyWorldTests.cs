using SmVL.Tests.Data;
using SmVL.Training;
using SmVL.TinyWorld;
using System.Security.Cryptography;
using SmVL.Data;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.TinyWorld;

public class TinyWorldTests
{
    private static readonly List<TinyWorldSample> Samples = new TinyWorldGenerator(2024).Generate(2000).ToList();

    [Fact]
    public void NoTypeMajorityBaselineExceedsOneOverKPlusFivePoints()
    {
        foreach (var lang in TinyWorldVocabulary.Languages)
        {
            var stats = TinyWorldStats.From(Samples.Select(s => s.Question(lang)));
            Assert.Equal(5, stats.Types.Count());
            foreach (var type in stats.Types)
            {
                Assert.InRange(stats.Count(type), 350, 450); // types are balanced too
                Assert.True(stats.MajorityBaseline(type) <= 1.0 / stats.Classes(type) + 0.05,
                    $"{lang} {type}: majority {stats.MajorityBaseline(type):F3} with k = {stats.Classes(type)}");
            }
            // Closed-set answers stay inside the exported vocabulary.
            foreach (var q in Samples.Select(s => s.Question(lang)).Where(q => q.Type != TinyQuestionType.Caption))
                Assert.Contains(q.Answer, TinyWorldVocabulary.Answers(q.Type, lang));
        }
    }

    [Fact]
    public void AnswersFollowFromTheScene()
    {
        foreach (var s in Samples)
        {
            var scene = s.Scene;
            var kind = Enum.GetValues<ShapeKind>().SingleOrDefault(k => s.En.Text.Contains(" " + TinyWorldVocabulary.Name(k, "en")));
            switch (s.En.Type)
            {
                case TinyQuestionType.Count:
                    Assert.Equal(TinyWorldVocabulary.Number(scene.Count(kind), "en"), s.En.Answer);
                    Assert.Equal(TinyWorldVocabulary.Number(scene.Count(kind), "zh"), s.Zh.Answer);
                    break;
                case TinyQuestionType.LeftRight:
                {
                    var target = Assert.Single(scene.Shapes, x => x.Kind == kind); // the question presumes a unique shape
                    Assert.Equal(s.En.Answer == "left" ? ShapeSide.Left : ShapeSide.Right, scene.SideOf(target));
                    Assert.True(s.En.Answer == "left" ? target.Right < scene.Width / 2.0 : target.Left > scene.Width / 2.0);
                    Assert.Equal(TinyWorldVocabulary.Name(scene.SideOf(target), "zh"), s.Zh.Answer);
                    break;
                }
                case TinyQuestionType.Colour:
                    Assert.Equal(TinyWorldVocabulary.Name(Assert.Single(scene.Shapes, x => x.Kind == kind).Colour, "en"), s.En.Answer);
                    break;
                case TinyQuestionType.Exists:
                {
                    var colour = Enum.GetValues<ShapeColour>().Single(c => s.En.Text.Contains(" " + TinyWorldVocabulary.Name(c, "en") + " "));
                    Assert.Equal(scene.Has(kind, colour) ? "yes" : "no", s.En.Answer);
                    break;
                }
                default:
                    Assert.Equal(scene.Caption("zh"), s.Zh.Answer);
                    break;
            }
            Assert.InRange(scene.Shapes.Count, 1, TinyWorldGenerator.MaxShapes);
            Assert.All(scene.Shapes, a => Assert.All(scene.Shapes.Where(b => b != a), b =>
                Assert.True(a.Right + TinyWorldGenerator.Gap <= b.Left || b.Right + TinyWorldGenerator.Gap <= a.Left || a.Bottom + TinyWorldGenerator.Gap <= b.Top || b.Bottom + TinyWorldGenerator.Gap <= a.Top, "shapes overlap")));
            Assert.All(scene.Shapes, a => Assert.True(a.Left >= 0 && a.Top >= 0 && a.Right <= scene.Width && a.Bottom <= scene.Height, "shape leaves the image"));
        }
    }

    [Fact]
    public void DescriptionAndCaptionAreCanonical()
    {
        var scene = new TinyScene(64, 48, [230, 230, 230], 0, 1,
        [
            new(ShapeKind.Square, ShapeColour.Blue, 50, 20, 10),
            new(ShapeKind.Circle, ShapeColour.Red, 10, 30, 10),
            new(ShapeKind.Square, ShapeColour.Blue, 32, 10, 10),
        ]);
        Assert.Equal("一个红色的圆形和两个蓝色的正方形。", scene.Caption("zh"));
        Assert.Equal("One red circle and two blue squares.", scene.Caption("en"));
        Assert.Equal("图中有三个图形，从左到右：红色的圆形（左边），蓝色的正方形（中间），蓝色的正方形（右边）。", scene.Describe("zh"));
        // A function of the scene, not of the order its shapes are listed in.
        var reordered = scene with { Shapes = scene.Shapes.Reverse().ToList() };
        Assert.Equal(scene.Describe("zh"), reordered.Describe("zh"));
        Assert.Equal(scene.Caption("en"), reordered.Caption("en"));
    }

    [Fact]
    public void ImageSizesGiveSeveralSplitterGrids()
    {
        // Longest edge resized to 64 and cut in 32-px tiles: rows × cols of 1×2, 2×1 and 2×2 must all occur.
        var grids = Samples.Select(s =>
        {
            double scale = 64.0 / Math.Max(s.Scene.Width, s.Scene.Height);
            return (Rows: (int)Math.Ceiling(s.Scene.Height * scale / 32 - 1e-9), Cols: (int)Math.Ceiling(s.Scene.Width * scale / 32 - 1e-9));
        }).Distinct().ToList();
        Assert.Contains((1, 2), grids);
        Assert.Contains((2, 1), grids);
        Assert.Contains((2, 2), grids);
        Assert.All(Samples, s => Assert.InRange(s.Scene.Width, TinyWorldGenerator.MinSide, TinyWorldGenerator.MaxSide));
    }

    [Fact]
    public void RenderedCircleHasItsColourInsideAndSoftEdges()
    {
        var scene = new TinyScene(40, 32, [240, 240, 240], 0, 0, [new(ShapeKind.Circle, ShapeColour.Green, 20.3, 16.1, 16)]);
        var img = TinyWorldRasteriser.Render(scene);
        var green = TinyWorldRasteriser.Rgb(ShapeColour.Green);
        for (int y = 13; y <= 18; y++)
            for (int x = 17; x <= 22; x++)
                for (int c = 0; c < 3; c++) Assert.Equal(green[c], img[x, y, c]);
        Assert.Equal(240, img[1, 1, 0]);
        // Anti-aliasing: along the circle's rim some pixels are strictly between background and colour.
        int partial = 0;
        for (int y = 0; y < img.Height; y++)
            for (int x = 0; x < img.Width; x++)
                if (img[x, y, 0] > green[0] && img[x, y, 0] < 240) partial++;
        Assert.True(partial >= 16, $"only {partial} edge pixels are blended");
        // A triangle is wider at its base than near its apex.
        var tri = TinyWorldRasteriser.Render(new TinyScene(32, 32, [240, 240, 240], 0, 0, [new(ShapeKind.Triangle, ShapeColour.Red, 16, 16, 20)]));
        int Width(int y) => Enumerable.Range(0, 32).Count(x => tri[x, y, 1] < 120);
        Assert.True(Width(24) > Width(10) + 6, $"triangle rows: {Width(10)} near apex, {Width(24)} near base");
    }

    [Fact]
    public void ExportIsDeterministicReadableAndSplitsAreDisjoint()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        var result = TinyWorldExport.Write(a.Path, 120, 40, seed: 9);
        TinyWorldExport.Write(b.Path, 120, 40, seed: 9);
        foreach (var file in result.Files)
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(b.Path, Path.GetRelativePath(a.Path, file))));

        var reader = new CauldronReader(a.Path);
        Assert.Equal(["tinyworld_en", "tinyworld_zh"], reader.Subsets());
        var train = reader.ReadSubset("tinyworld_zh").ToList();
        var expected = new TinyWorldGenerator(9).Generate(120).ToList();
        Assert.Equal(120, train.Count);
        Assert.Equal(0, reader.BadRows.Total);
        for (int i = 0; i < train.Count; i++)
        {
            var turn = Assert.Single(train[i].Turns);
            Assert.Equal((expected[i].Zh.Text, expected[i].Zh.Answer), (turn.User, turn.Assistant));
            Assert.Equal(("zh", TinyWorldVocabulary.TypeName(expected[i].Zh.Type)), (turn.Language, turn.QuestionType));
        }
        Assert.Equal(TinyWorldRasteriser.Render(expected[7].Scene).Pixels, train[7].DecodeImage().Pixels);

        var evalReader = new CauldronReader(a.Path, split: "eval");
        var evalEn = evalReader.ReadSubset("tinyworld_en").ToList();
        Assert.Equal(40, evalEn.Count);
        Assert.All(evalEn.Where(s => s.Turns[0].QuestionType == "count"), s => Assert.StartsWith("How many", s.Turns[0].User));
        var trainHashes = train.Select(s => Convert.ToHexString(SHA256.HashData(s.Images[0]))).ToHashSet();
        Assert.DoesNotContain(evalReader.ReadSubset("tinyworld_zh"), s => trainHashes.Contains(Convert.ToHexString(SHA256.HashData(s.Images[0]))));
        Assert.True(File.Exists(Path.Combine(a.Path, "tinyworld_vocab.json")));
        Assert.Equal(120, File.ReadLines(Path.Combine(a.Path, "tinyworld_scenes", "train.jsonl")).Count());
    }

    [Fact]
    public void DifferentSeedsGiveDifferentData()
    {
        var x = new TinyWorldGenerator(1).Generate(20).Select(s => s.Scene.Describe()).ToList();
        var y = new TinyWorldGenerator(2).Generate(20).Select(s => s.Scene.Describe()).ToList();
        Assert.NotEqual(x, y);
        Assert.Equal(x, new TinyWorldGenerator(1).Generate(20).Select(s => s.Scene.Describe()));
    }
}
