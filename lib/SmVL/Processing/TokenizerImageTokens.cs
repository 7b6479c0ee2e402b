namespace SmVL.Processing;

/// <summary>
/// The strings the SmolVLM processor uses to lay out an image in the prompt (digest §1.3, §1.5),
/// with the ids of the two that must be single tokens. <see cref="ImageTokenId"/> is the one place
/// the image-token id is defined for the processor; the model is handed it at stitch time.
/// </summary>
public sealed record ImageTokens(
    string ImageToken, int ImageTokenId,
    string GlobalImageToken, int GlobalImageTokenId,
    string FakeImageToken,
    string RowColFormat,
    string EndOfUtterance,
    string VideoToken)
{
    /// <summary>
    /// Qwen3-SmVL's choice: reuse Qwen3's reserved <c>&lt;|image_pad|&gt;</c> (151655) and
    /// <c>&lt;|vision_pad|&gt;</c> (151654); <c>&lt;vision_start&gt;</c> and <c>&lt;row_r_col_c&gt;</c>
    /// stay plain text; nothing is added. Ids are looked up in <paramref name="tokenizer"/>.
    /// </summary>
    public static ImageTokens Qwen3SmVL(Tokenizer tokenizer) => new(
        "<|image_pad|>", Require(tokenizer, "<|image_pad|>"),
        "<|vision_pad|>", Require(tokenizer, "<|vision_pad|>"),
        FakeImageToken: "<vision_start>",
        RowColFormat: "<row_{0}_col_{1}>",
        EndOfUtterance: "<im_end>",
        VideoToken: "<|video_pad|>");

    public string RowCol(int row, int col) => string.Format(RowColFormat, row, col);

    /// <summary>
    /// What the processor puts in place of one image token (SmolVLMProcessor, digest §1.5): per
    /// tile <c>fake + &lt;row_r_col_c&gt; + image×seq</c>, a newline after each row, then the
    /// global image <c>\n + fake + global + image×seq + fake</c>; an unsplit image (0×0) is only
    /// <c>fake + global + image×seq + fake</c>.
    /// </summary>
    public string ImagePrompt(int rows, int cols, int imageSeqLen)
    {
        var sb = new System.Text.StringBuilder();
        string image = string.Concat(Enumerable.Repeat(ImageToken, imageSeqLen));
        string global = FakeImageToken + GlobalImageToken + image + FakeImageToken;
        if (rows == 0 && cols == 0) return global;
        for (int r = 1; r <= rows; r++)
        {
            for (int c = 1; c <= cols; c++) sb.Append(FakeImageToken).Append(RowCol(r, c)).Append(image);
            sb.Append('\n');
        }
        return sb.Append('\n').Append(global).ToString();
    }

    internal static int Require(Tokenizer tokenizer, string token) =>
        tokenizer.TokenToId(token) ?? throw new ArgumentException($"token {token} is not in the vocabulary of {tokenizer.Source}");
}
