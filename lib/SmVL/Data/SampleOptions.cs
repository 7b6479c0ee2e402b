namespace SmVL.Data;

/// <summary>
/// What to keep of a Cauldron row. The reference kept only images[0] ("otherwise OOM") and texts[0];
/// that is the default. <paramref name="Validate"/> decodes the kept images once so undecodable bytes
/// are counted here rather than crashing the processor mid-run.
/// </summary>
public sealed record SampleOptions(bool AllImages = false, bool AllTurns = false, bool Validate = true)
{
    public static readonly SampleOptions FirstImageFirstTurn = new();
}
