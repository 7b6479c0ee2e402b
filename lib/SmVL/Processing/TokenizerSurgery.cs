namespace SmVL.Processing;

/// <summary>
/// The two ways of giving the Qwen3 tokenizer SmolVLM's image layout, side by side for the
/// notebook. The blog's way (<see cref="ImageTokens.Qwen3SmVL"/>) adds nothing: the image and
/// global markers reuse Qwen3's reserved tokens, and <c>&lt;vision_start&gt;</c> /
/// <c>&lt;row_r_col_c&gt;</c> are spelled out in several BPE pieces each. The alternative makes
/// those markers special tokens, as SmolVLM's own vocabulary has them, which shortens every image
/// and needs new embedding rows.
/// </summary>
public static class TokenizerSurgery
{
    /// <summary>SmolVLM has row/col markers for grids up to 6×6 (<c>&lt;row_1_col_1&gt;</c> … <c>&lt;row_6_col_6&gt;</c>).</summary>
    public const int MaxGrid = 6;

    /// <summary>A tokenizer after surgery, its image tokens, and the ids it added (the embedding rows the model must grow).</summary>
    public sealed record Result(Tokenizer Tokenizer, ImageTokens Tokens, IReadOnlyList<int> NewTokenIds);

    /// <summary>
    /// Add <c>&lt;vision_start&gt;</c> and the 36 <c>&lt;row_r_col_c&gt;</c> markers as special
    /// tokens (ids from the tokenizer's current size upwards). The image and global tokens stay
    /// Qwen3's reserved ones, so only the spelled-out markers change.
    /// </summary>
    public static Result AddSmolVLMSpecialTokens(Tokenizer tokenizer)
    {
        var tokens = ImageTokens.Qwen3SmVL(tokenizer);
        var markers = new List<string> { tokens.FakeImageToken };
        for (int r = 1; r <= MaxGrid; r++)
            for (int c = 1; c <= MaxGrid; c++) markers.Add(tokens.RowCol(r, c));
        var grown = tokenizer.AddTokens(markers, special: true);
        var newIds = markers.Select(m => grown.TokenToId(m)!.Value).Where(id => id >= tokenizer.VocabSize).ToList();
        return new Result(grown, ImageTokens.Qwen3SmVL(grown), newIds);
    }

    /// <summary>How many tokens one image of <paramref name="rows"/>×<paramref name="cols"/> tiles costs (the expansion encoded on its own).</summary>
    public static int TokensPerImage(Tokenizer tokenizer, ImageTokens tokens, int rows, int cols, int imageSeqLen) =>
        tokenizer.Encode(tokens.ImagePrompt(rows, cols, imageSeqLen)).Count;

    /// <summary>Tokens per image for the blog's layout and for the added-token alternative.</summary>
    public static (int Qwen3SmVL, int WithAddedTokens) CompareTokensPerImage(Tokenizer qwen3, int rows, int cols, int imageSeqLen)
    {
        var added = AddSmolVLMSpecialTokens(qwen3);
        return (TokensPerImage(qwen3, ImageTokens.Qwen3SmVL(qwen3), rows, cols, imageSeqLen),
                TokensPerImage(added.Tokenizer, added.Tokens, rows, cols, imageSeqLen));
    }
}
