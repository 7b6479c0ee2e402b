using SmVL.Data;
using SmVL.Processing;
using SmVL.TinyWorld;
using SmVL.Training;
using SmVL.Tests.Data;
using Xunit;

namespace SmVL.Tests.Training;

/// <summary>A resumed run seeks to its micro-batch: the same batches as reading from the start, without reading what came before.</summary>
public class VqaBatchesTests
{
    private static readonly Processor Processor = TinyParents.CreateProcessor();

    private static ISampleSequence Sequence(TempDir dir)
    {
        var gen = new TinyWorldGenerator(9);
        var rows = gen.Generate(30).Select(s => TinyWorldExport.ToRow(s, "en", ImageCodec.EncodePng(TinyWorldRasteriser.Render(s.Scene)), "tiny")).ToList();
        CauldronParquet.Write(dir["tiny/train-00000-of-00001.parquet"], rows, rowGroupSize: 8);
        return new CauldronRecipe("test", ["tiny"], 5, 6, 20, SampleOptions.FirstImageFirstTurn).Select(new CauldronReader(dir.Path)).TrainSequence;
    }

    private static VqaBatches Batches(ISampleSequence s) => new(Processor, s, microBatch: 4, LabelPolicy.FullText, maxLength: 2048);

    [Theory]
    [InlineData(3)]     // inside the first pass
    [InlineData(4)]     // the last batch of the pass (20 samples = 5 batches), then the wrap
    [InlineData(7)]     // in the second pass
    public void SeekingGivesTheBatchesOfAnUninterruptedReadAndReadsOnlyThem(int at)
    {
        using var dir = new TempDir();
        var sequence = Sequence(dir);
        var straight = Batches(sequence);
        for (int i = 0; i < at; i++) straight.Get(i).Dispose();
        string position = straight.PositionOf(at) ?? throw new Xunit.Sdk.XunitException($"no position before micro-batch {at}");
        Assert.Null(straight.PositionOf(at + 1));                       // only where the cursor stands

        var resumed = Batches(sequence);
        resumed.Seek(at, position);
        for (int i = at; i < at + 3; i++)
        {
            using var a = straight.Get(i);
            using var b = resumed.Get(i);
            Assert.Equal(a.InputIds.data<long>().ToArray(), b.InputIds.data<long>().ToArray());
            Assert.Equal(a.PixelValues!.data<float>().ToArray(), b.PixelValues!.data<float>().ToArray());
            if (i == at) Assert.Equal(4, resumed.SamplesRead);         // nothing before micro-batch `at` was read again
        }
        Assert.Throws<InvalidDataException>(() => Batches(sequence).Seek(at + 1, position));   // a position names its micro-batch
    }
}
