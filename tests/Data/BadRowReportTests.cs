using SmVL.Data;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Data;

public class BadRowReportTests
{
    private static byte[] Png() => ImageCodec.EncodePng(new RgbImage(2, 2, [.. Enumerable.Repeat((byte)128, 12)]));

    /// <summary>
    /// good: 2 good rows + one of each bad kind; broken: a corrupt parquet file next to a good one;
    /// missing: listed in the recipe but absent; empty: a directory without shards.
    /// </summary>
    private static TempDir Messy()
    {
        var dir = new TempDir();
        var ok = new CauldronText("q", "a", null);
        CauldronParquet.Write(dir["good/train-00000-of-00001.parquet"],
        [
            new([new CauldronImage(Png(), null)], [ok]),
            new(null, [ok]),                                                   // NoImage
            new([], [ok]),                                                     // NoImage
            new([new CauldronImage([1, 2, 3, 4], "x.jpg")], [ok]),             // BadImage
            new([new CauldronImage(null, "y.png")], [ok]),                     // BadImage (no bytes)
            new([new CauldronImage(Png(), null)], []),                         // EmptyTurns
            new([new CauldronImage(Png(), null)], [new CauldronText("q", "", null)]), // EmptyTurns
            new([new CauldronImage(Png(), null)], null),                       // EmptyTurns
            new([new CauldronImage(Png(), "z.png")], [ok]),
        ], rowGroupSize: 4);
        CauldronParquet.Write(dir["broken/train-00000-of-00002.parquet"], [new([new CauldronImage(Png(), null)], [ok])]);
        File.WriteAllBytes(dir["broken/train-00001-of-00002.parquet"], "PAR1 definitely not parquet"u8.ToArray());
        Directory.CreateDirectory(dir["empty"]);
        return dir;
    }

    [Fact]
    public void EachKindOfBadRowIsCountedNotFatal()
    {
        using var dir = Messy();
        var reader = new CauldronReader(dir.Path);
        var sel = new CauldronRecipe("messy", ["good", "broken", "missing", "empty"], 1, 2, null, SampleOptions.FirstImageFirstTurn).Select(reader);
        var ids = sel.Eval().Concat(sel.Train()).Select(s => s.Id).ToList();

        Assert.Equal(3, ids.Count);
        Assert.Contains("broken/train-00000-of-00002/0/0", ids);
        var r = reader.BadRows;
        Assert.Equal(2, r.Count("good", BadRowReason.NoImage));
        Assert.Equal(2, r.Count("good", BadRowReason.BadImage));
        Assert.Equal(3, r.Count("good", BadRowReason.EmptyTurns));
        Assert.Equal(1, r.Count("broken", BadRowReason.UnreadableFile));
        Assert.Equal(1, r.Count("missing", BadRowReason.MissingSubset));
        Assert.Equal(1, r.Count("empty", BadRowReason.MissingSubset));
        Assert.Equal(10, r.Total);
        string table = r.ToString();
        Assert.Contains("train-00001-of-00002.parquet", table);
        Assert.Matches(@"good\s+0\s+0\s+2\s+2\s+3", table);
    }

    [Fact]
    public void StreamingASubsetSkipsAndCountsTheSameRows()
    {
        using var dir = Messy();
        var reader = new CauldronReader(dir.Path);
        Assert.Equal(["good/train-00000-of-00001/0/0", "good/train-00000-of-00001/2/0"], reader.ReadSubset("good").Select(s => s.Id));
        Assert.Equal(7, reader.BadRows.Total);
        Assert.Equal(["broken", "good"], reader.Subsets()); // "empty" holds no shard
    }

    [Fact]
    public void WithoutValidationUndecodableBytesPassThrough()
    {
        using var dir = Messy();
        var reader = new CauldronReader(dir.Path);
        var samples = reader.ReadSubset("good", new SampleOptions(Validate: false)).ToList();
        Assert.Equal(3, samples.Count);
        Assert.Throws<ImageDecodeException>(() => samples[1].DecodeImage());
        Assert.Equal(1, reader.BadRows.Count("good", BadRowReason.BadImage)); // only the row without bytes
    }
}
