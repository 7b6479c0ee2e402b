using System.Text.Json;
using SmVL.Data;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Data;

public class CauldronParquetTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "data", name);

    [Fact]
    public void RowsWrittenByOurWriterReadBackExactly()
    {
        using var dir = new TempDir();
        var rows = new List<CauldronRow>
        {
            new([new CauldronImage([1, 2, 3], "a.png"), new CauldronImage([9], null)], [new CauldronText("q1", "a1", "src"), new CauldronText("问", "答", null)]),
            new([], null),
            new(null, []),
            new([new CauldronImage(null, "missing-bytes.png")], [new CauldronText(null, "a", null)]),
            new([new CauldronImage([7, 7], null)], [new CauldronText("q", "a", "s")]),
        };
        string file = dir["s/train-00000-of-00001.parquet"];
        CauldronParquet.Write(file, rows, rowGroupSize: 2);

        Assert.Equal([2L, 2L, 1L], CauldronParquet.RowGroupSizes(file));
        var back = Enumerable.Range(0, 3).SelectMany(g => CauldronParquet.ReadRowGroup(file, g)).ToList();
        Assert.Equal(rows.Count, back.Count);
        for (int i = 0; i < rows.Count; i++) AssertRowEqual(rows[i], back[i], $"row {i}");
    }

    [Fact]
    public void FileWrittenByDuckDbReadsBackExactly()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("independent.expected.json"))).RootElement.EnumerateArray().ToList();
        string file = Fixture("independent.parquet");
        var back = Enumerable.Range(0, CauldronParquet.RowGroupSizes(file).Length).SelectMany(g => CauldronParquet.ReadRowGroup(file, g)).ToList();

        Assert.Equal(expected.Count, back.Count);
        for (int r = 0; r < expected.Count; r++)
        {
            var images = expected[r].GetProperty("images").EnumerateArray().ToList();
            Assert.Equal(images.Count, back[r].Images!.Count);
            for (int i = 0; i < images.Count; i++)
            {
                Assert.Equal(Convert.FromBase64String(images[i].GetProperty("bytes").GetString()!), back[r].Images![i].Bytes);
                Assert.Equal(images[i].GetProperty("path").GetString(), back[r].Images![i].Path);
                if (images[i].GetProperty("rgb").GetString() is { } rgb)
                {
                    // The script encoded these PNGs itself; our codec must see the same pixels.
                    var decoded = ImageCodec.Decode(back[r].Images![i].Bytes!, $"row {r} image {i}");
                    Assert.Equal(images[i].GetProperty("width").GetInt32(), decoded.Width);
                    Assert.Equal(images[i].GetProperty("height").GetInt32(), decoded.Height);
                    Assert.Equal(ParseBytes(rgb), decoded.Pixels);
                }
            }
            var texts = expected[r].GetProperty("texts").EnumerateArray().ToList();
            Assert.Equal(texts.Count, back[r].Texts!.Count);
            for (int t = 0; t < texts.Count; t++)
                Assert.Equal(new CauldronText(Str(texts[t], "user"), Str(texts[t], "assistant"), Str(texts[t], "source")), back[r].Texts![t]);
        }
    }

    [Fact]
    public void DuckDbFileRowsGetTheExpectedVerdicts()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("independent.expected.json"))).RootElement.EnumerateArray()
            .Select(e => e.GetProperty("verdict").GetString()).ToList();
        var reader = new CauldronReader(Path.GetDirectoryName(Fixture("x"))!);
        var good = reader.ReadShards(reader.FileShards("data", Fixture("independent.parquet"))).ToList();

        Assert.Equal(expected.Count(v => v == "good"), good.Count);
        foreach (var reason in new[] { BadRowReason.NoImage, BadRowReason.BadImage, BadRowReason.EmptyTurns })
            Assert.Equal(expected.Count(v => v == reason.ToString()), reader.BadRows.Count("data", reason));
        // First image and first turn only, as the reference did.
        Assert.All(good, s => { Assert.Single(s.Images); Assert.Single(s.Turns); });
        Assert.Equal("What colour is the first pixel?", good[0].Turns[0].User);
        Assert.Equal("data/independent/0/0", good[0].Id);
    }

    [Fact]
    public void AllImagesAndAllTurnsKeepEverything()
    {
        var reader = new CauldronReader(Path.GetDirectoryName(Fixture("x"))!);
        var first = reader.ReadShards(reader.FileShards("data", Fixture("independent.parquet")), new SampleOptions(AllImages: true, AllTurns: true)).First();
        Assert.Equal(2, first.Images.Count);
        Assert.Equal(["Red.", "第二个答案。"], first.Turns.Select(t => t.Assistant));
        Assert.Equal(2, first.DecodeImage(1).Width);
    }

    private static byte[] ParseBytes(string json) => JsonSerializer.Deserialize<int[]>(json)!.Select(v => (byte)v).ToArray();

    private static string? Str(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();

    private static void AssertRowEqual(CauldronRow want, CauldronRow got, string what)
    {
        Assert.True(want.Images is null == got.Images is null, $"{what}: images null-ness");
        Assert.True(want.Texts is null == got.Texts is null, $"{what}: texts null-ness");
        if (want.Images is not null)
        {
            Assert.Equal(want.Images.Count, got.Images!.Count);
            for (int i = 0; i < want.Images.Count; i++)
            {
                Assert.Equal(want.Images[i].Bytes, got.Images[i].Bytes);
                Assert.Equal(want.Images[i].Path, got.Images[i].Path);
            }
        }
        if (want.Texts is not null) Assert.Equal(want.Texts, got.Texts!);
    }
}
