using SmVL.Processing;

namespace SmVL.Data;

/// <summary>
/// One question-answer turn. <paramref name="Source"/> is the Cauldron `source` column; TinyWorld
/// writes "tinyworld/&lt;lang&gt;/&lt;type&gt;" there so per-type accuracy survives the round trip
/// through parquet.
/// </summary>
public sealed record QaTurn(string User, string Assistant, string? Source = null)
{
    public const string TinyWorldPrefix = "tinyworld/";

    /// <summary>TinyWorld question type ("count", "colour", ...); null for other sources.</summary>
    public string? QuestionType => TinyWorldPart(2);

    /// <summary>TinyWorld language ("zh" or "en"); null for other sources.</summary>
    public string? Language => TinyWorldPart(1);

    private string? TinyWorldPart(int i) =>
        Source is { } s && s.StartsWith(TinyWorldPrefix, StringComparison.Ordinal) && s.Split('/') is { Length: 3 } parts ? parts[i] : null;
}

/// <summary>
/// One training/eval sample. Images stay encoded (decoding is the processor's job and costs time);
/// <see cref="DecodeImage"/> goes through the one codec seam.
/// </summary>
public sealed record VqaSample(string Id, string Subset, IReadOnlyList<byte[]> Images, IReadOnlyList<QaTurn> Turns)
{
    public RgbImage DecodeImage(int index = 0) => ImageCodec.Decode(Images[index], $"{Id} image {index}");
}
