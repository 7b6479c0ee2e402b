using SmVL.Stitching;

namespace SmVL.Training;

/// <summary>
/// What "tiny" means in an experiment file (parents "tiny", data recipe "tinyworld"), supplied by
/// the tiny world so the run path does not depend on it (the CLI and the tests hand one in).
/// </summary>
public interface ITinyWorld
{
    /// <summary>The tiny parents as HF folders (built once and cached) and their processor.</summary>
    StitchParents Parents();

    /// <summary>The tiny world for <paramref name="data"/> as Cauldron parquet: written once, then reused; returns its folder.</summary>
    string Data(DataSpec data);
}
