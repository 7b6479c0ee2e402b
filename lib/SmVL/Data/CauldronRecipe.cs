namespace SmVL.Data;

/// <summary>
/// A named selection of Cauldron data: which subsets, the seed of the shuffle, how many eval samples
/// come first, how many training samples follow (null = all the rest), and what to keep of each row.
/// </summary>
public sealed record CauldronRecipe(string Name, IReadOnlyList<string> Subsets, long Seed, int EvalCount, int? TrainCount, SampleOptions Options)
{
    /// <summary>The 21 subsets Qwen3-SmVL's train.py lists, in its order (digest §1.8). Its six "bad
    /// dataset" subsets (mimic_cgd, localized_narratives, okvqa, ocrvqa, clevr_math, nlvr2) are left out
    /// as it left them out.</summary>
    public static readonly IReadOnlyList<string> Qwen3SmVLSubsets =
    [
        "chartqa", "finqa", "aokvqa", "figureqa", "diagram_image_to_text", "geomverse", "ai2d", "iam",
        "infographic_vqa", "intergps", "hateful_memes", "clevr", "iconqa", "multihiertt", "mapqa", "datikz",
        "hitab", "chart2text", "cocoqa", "docvqa", "dvqa",
    ];

    /// <summary>Qwen3-SmVL's full run: 64 eval, then 61,440 = 60×1024 training samples, first image and first
    /// turn per row. Its data_seed was 42.</summary>
    public static CauldronRecipe Qwen3SmVL(long seed = 42, SampleOptions? options = null) =>
        new("qwen3-smvl", Qwen3SmVLSubsets, seed, 64, 60 * 1024, options ?? SampleOptions.FirstImageFirstTurn);

    /// <summary>The 200-step cocoqa pilot: 200 steps × batch 32 = 6,400 training samples after 64 eval.</summary>
    public static CauldronRecipe Cocoqa(long seed = 42, SampleOptions? options = null) =>
        Single("cocoqa", 200 * 32, seed, options);

    public static CauldronRecipe Single(string subset, int? trainCount, long seed = 42, SampleOptions? options = null) =>
        new(subset, [subset], seed, 64, trainCount, options ?? SampleOptions.FirstImageFirstTurn);

    /// <summary>"qwen3-smvl", "cocoqa", or any other name as a single subset using all its rows.</summary>
    public static CauldronRecipe ByName(string name, long seed = 42, SampleOptions? options = null) => name switch
    {
        "qwen3-smvl" => Qwen3SmVL(seed, options),
        "cocoqa" => Cocoqa(seed, options),
        _ => Single(name, null, seed, options),
    };

    /// <summary>Indexes the recipe's subsets from parquet footers and shuffles the row index with the seed.</summary>
    public CauldronSelection Select(CauldronReader reader) => new(this, reader);
}
