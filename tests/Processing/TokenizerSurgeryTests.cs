using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

public class TokenizerSurgeryTests
{
    private static Tokenizer Qwen3 => TokenizerTests.Qwen3.Value;

    [Fact]
    public void Qwen3SmVLReusesQwensReservedTokens()
    {
        var t = ImageTokens.Qwen3SmVL(Qwen3);
        Assert.Equal(151655, t.ImageTokenId);
        Assert.Equal(151654, t.GlobalImageTokenId);
        Assert.Equal("<vision_start>", t.FakeImageToken);
        Assert.Equal("<row_2_col_3>", t.RowCol(2, 3));
    }

    [Fact]
    public void MarkersAreMultiPieceByDefaultAndSingleTokensAfterAdding()
    {
        var added = TokenizerSurgery.AddSmolVLMSpecialTokens(Qwen3);
        Assert.True(Qwen3.Encode("<vision_start>").Count > 1);
        Assert.True(Qwen3.Encode("<row_1_col_1>").Count > 1);
        Assert.Single(added.Tokenizer.Encode("<vision_start>"));
        Assert.Single(added.Tokenizer.Encode("<row_6_col_6>"));
        Assert.Equal(1 + TokenizerSurgery.MaxGrid * TokenizerSurgery.MaxGrid, added.NewTokenIds.Count);
        Assert.Equal(Enumerable.Range(Qwen3.VocabSize, added.NewTokenIds.Count), added.NewTokenIds);
        Assert.All(added.NewTokenIds, id => Assert.True(added.Tokenizer.IsSpecial(id)));
        // The reused tokens keep their ids, and ordinary text is unchanged.
        Assert.Equal(151655, added.Tokens.ImageTokenId);
        Assert.Equal(Qwen3.Encode("图中有什么动物？"), added.Tokenizer.Encode("图中有什么动物？"));
    }

    [Theory]
    [InlineData(3, 4, 64)]
    [InlineData(0, 0, 64)]
    [InlineData(1, 2, 16)]
    public void PerImageDifferenceIsWhatThePieceCountsImply(int rows, int cols, int seq)
    {
        var (plain, withAdded) = TokenizerSurgery.CompareTokensPerImage(Qwen3, rows, cols, seq);
        var t = ImageTokens.Qwen3SmVL(Qwen3);
        // Each tile opens with "<vision_start><row_r_col_c>" (encoded together: "><" is one BPE
        // piece) which becomes 2 tokens; the global image's two <vision_start> become 1 each.
        int implied = 2 * (Qwen3.Encode(t.FakeImageToken).Count - 1);
        for (int r = 1; r <= rows; r++)
            for (int c = 1; c <= cols; c++) implied += Qwen3.Encode(t.FakeImageToken + t.RowCol(r, c)).Count - 2;
        Assert.True(implied > 0);
        Assert.Equal(implied, plain - withAdded);

        // Both layouts carry exactly one image token per feature (the processor's consistency check).
        int images = (rows * cols + 1) * seq;
        Assert.Equal(images, Qwen3.Encode(t.ImagePrompt(rows, cols, seq)).Count(id => id == 151655));
    }
}
