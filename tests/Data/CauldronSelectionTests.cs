using SmVL.Training;
using SmVL.TinyWorld;
using SmVL.Data;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Data;

public class CauldronSelectionTests
{
    /// <summary>Three subsets, two files each, row groups of 4: 3 × 2 × 10 = 60 rows, all good.</summary>
    private static TempDir ThreeSubsets()
    {
        var dir = new TempDir();
        var gen = new TinyWorldGenerator(5);
        foreach (var subset in new[] { "alpha", "beta", "gamma" })
            for (int f = 0; f < 2; f++)
            {
                var rows = gen.Generate(10).Select(s => TinyWorldExport.ToRow(s, "en", ImageCodec.EncodePng(TinyWorldRasteriser.Render(s.Scene)), subset)).ToList();
                CauldronParquet.Write(dir[$"{subset}/train-0000{f}-of-00002.parquet"], rows, rowGroupSize: 4);
            }
        return dir;
    }

    private static CauldronRecipe Recipe(long seed, int? train = 20) => new("test", ["alpha", "beta", "gamma"], seed, 5, train, SampleOptions.FirstImageFirstTurn);

    [Fact]
    public void SameSeedGivesSameEvalAndTrainingOrder_DifferentSeedDoesNot()
    {
        using var dir = ThreeSubsets();
        var a = Recipe(42).Select(new CauldronReader(dir.Path));
        var b = Recipe(42).Select(new CauldronReader(dir.Path));
        var c = Recipe(43).Select(new CauldronReader(dir.Path));

        Assert.Equal(60, a.TotalRows);
        Assert.Equal(3 * 2 * 3, a.Shards.Count); // row groups of 4, 4, 2 per file
        var evalA = a.Eval().Select(s => s.Id).ToList();
        var trainA = a.Train().Select(s => s.Id).ToList();
        Assert.Equal(5, evalA.Count);
        Assert.Equal(20, trainA.Count);
        Assert.Equal(evalA, b.Eval().Select(s => s.Id));
        Assert.Equal(trainA, b.Train().Select(s => s.Id));
        Assert.NotEqual(evalA, c.Eval().Select(s => s.Id));
        Assert.NotEqual(trainA, c.Train().Select(s => s.Id));
        Assert.Empty(evalA.Intersect(trainA));
        // The pool mixes subsets (60 rows shuffled; 25 drawn from one subset only would be a broken shuffle).
        Assert.True(trainA.Concat(evalA).Select(id => id.Split('/')[0]).Distinct().Count() == 3);
    }

    [Fact]
    public void TheTrainingSequenceGoesOnFromAnyOfItsTokens()
    {
        using var dir = ThreeSubsets();
        var sel = Recipe(11).Select(new CauldronReader(dir.Path));
        var all = sel.TrainSequence.From(null).ToList();
        Assert.Equal(sel.Train().Select(s => s.Id), all.Select(x => x.Sample.Id));
        for (int k = 0; k < all.Count; k++)
            Assert.Equal(all.Skip(k + 1).Select(x => x.Sample.Id), sel.TrainSequence.From(all[k].Token).Select(x => x.Sample.Id));
        Assert.Throws<InvalidDataException>(() => sel.TrainSequence.From("0:0").ToList());          // an eval row is no training position
    }

    [Fact]
    public void WholeSelectionIsAPermutationOfAllRows()
    {
        using var dir = ThreeSubsets();
        var sel = Recipe(7, train: null).Select(new CauldronReader(dir.Path));
        var ids = sel.Eval().Concat(sel.Train()).Select(s => s.Id).ToList();
        var all = new CauldronReader(dir.Path).ReadShards(sel.Shards).Select(s => s.Id).ToList();
        Assert.Equal(60, ids.Count);
        Assert.Equal(all.Order(), ids.Order());
        Assert.NotEqual(all, ids);
    }

    [Fact]
    public void RecipeSampleMatchesTheStreamedRowWithTheSameId()
    {
        using var dir = ThreeSubsets();
        var streamed = new CauldronReader(dir.Path).ReadSubset("beta").ToDictionary(s => s.Id);
        var sel = Recipe(3).Select(new CauldronReader(dir.Path));
        foreach (var s in sel.Train().Where(s => s.Subset == "beta"))
        {
            Assert.Equal(streamed[s.Id].Turns, s.Turns);
            Assert.Equal(streamed[s.Id].Images[0], s.Images[0]);
        }
    }

    [Fact]
    public void NamedRecipesFollowTheReference()
    {
        var full = CauldronRecipe.Qwen3SmVL();
        Assert.Equal(21, full.Subsets.Count);
        Assert.Equal(64, full.EvalCount);
        Assert.Equal(61_440, full.TrainCount);
        Assert.Equal(42, full.Seed);
        Assert.DoesNotContain("okvqa", full.Subsets);
        Assert.Equal(6_400, CauldronRecipe.ByName("cocoqa").TrainCount);
        Assert.Equal(["cocoqa"], CauldronRecipe.Cocoqa().Subsets);
    }
}
