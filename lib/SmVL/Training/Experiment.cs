using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using SmVL.Stitching;

namespace SmVL.Training;

/// <summary>
/// One training run as a file (`experiments/&lt;name&gt;.json`): which parents, which data, how to
/// stitch, what to freeze, how to optimise, and how to label. Loading is strict (an unknown key is
/// an error, so a typo never silently falls back to a default) and <see cref="Problems"/> lists
/// every invalid value at once.
/// </summary>
public sealed record Experiment
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("description")] public string? Description { get; init; }
    [JsonPropertyName("parents")] public ParentsSpec Parents { get; init; } = new();
    [JsonPropertyName("data")] public DataSpec Data { get; init; } = new();
    [JsonPropertyName("stitch")] public StitchSpec Stitch { get; init; } = new();
    [JsonPropertyName("freeze")] public FreezeSpec Freeze { get; init; } = new();
    [JsonPropertyName("train")] public TrainOptions Train { get; init; } = new();
    /// <summary>Tokens per sample after padding/truncation (the reference: 2048).</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; } = 2048;
    /// <summary>"full-text" (the reference: every non-pad, non-image token) or "assistant-only".</summary>
    [JsonPropertyName("label_policy")] public string LabelPolicy { get; init; } = "full-text";

    public static readonly IReadOnlyList<string> LabelPolicies = new[] { "full-text", "assistant-only" };
    /// <summary>Parent value meaning "the tiny-world parents built by the project" instead of a folder.</summary>
    public const string Tiny = "tiny";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static Experiment Parse(string json) =>
        JsonSerializer.Deserialize<Experiment>(json, Json) ?? throw new InvalidDataException("empty experiment definition");

    /// <summary>Read and validate an experiment file; errors name the file.</summary>
    public static Experiment Load(string path)
    {
        Experiment e;
        try { e = Parse(File.ReadAllText(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not a valid experiment definition: {ex.Message}", ex); }
        var problems = e.Problems().ToList();
        if (problems.Count > 0) throw new InvalidDataException($"{path}: invalid experiment:\n  " + string.Join("\n  ", problems));
        return e;
    }

    public void Save(string path) => File.WriteAllText(path, ToJson() + "\n");

    /// <summary>Every experiments/*.json under <paramref name="dir"/>, by file name.</summary>
    public static IReadOnlyList<(string path, Experiment experiment)> LoadAll(string dir) =>
        Directory.GetFiles(dir, "*.json").OrderBy(p => p, StringComparer.Ordinal).Select(p => (p, Load(p))).ToList();

    [JsonIgnore] public FreezePolicy Policy => Freezing.Parse(Freeze.Policy);
    [JsonIgnore] public FrozenDtype FrozenDtype => Freeze.Dtype is { } d ? FrozenPrecision.Parse(d) : FrozenDtype.Float32;
    /// <summary>The label policy as the processor takes it.</summary>
    [JsonIgnore] public Processing.LabelPolicy Labels => LabelPolicy == "assistant-only" ? Processing.LabelPolicy.AssistantOnly : Processing.LabelPolicy.FullText;
    [JsonIgnore] public ConnectorInitKind ConnectorInit => Stitching.ConnectorInit.Parse(Stitch.ConnectorInit);

    /// <summary>The LoRA options when the policy is lora (seeded from the stitch seed), else null.</summary>
    public LoraOptions? ToLoraOptions() => Freeze.Lora is { } l && Policy == FreezePolicy.Lora
        ? new LoraOptions { Rank = l.Rank, Alpha = l.Alpha, Dropout = l.Dropout, Targets = l.Targets, Seed = Stitch.Seed }
        : null;

    /// <summary>Every problem with this definition (empty when valid).</summary>
    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(Name)) yield return "name is empty";
        else if (Name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))) yield return $"name '{Name}' must use letters, digits, '-', '_' or '.' (it names the run directory)";
        if (string.IsNullOrWhiteSpace(Parents.Vlm)) yield return "parents.vlm is empty (a folder or \"tiny\")";
        if (string.IsNullOrWhiteSpace(Parents.Lm)) yield return "parents.lm is empty (a folder or \"tiny\")";
        if (string.IsNullOrWhiteSpace(Data.Recipe)) yield return "data.recipe is empty";
        if (Data.TrainSize is { } ts && ts <= 0) yield return $"data.train_size must be positive (or absent for all rows), got {ts}";
        if (Data.EvalSize < 0) yield return $"data.eval_size must be ≥ 0, got {Data.EvalSize}";
        if (Data.Subsets is { } subs)
        {
            if (subs.Count == 0) yield return "data.subsets is an empty list (omit it for the recipe's default)";
            if (subs.Distinct().Count() != subs.Count) yield return "data.subsets has duplicates";
            if (subs.Any(string.IsNullOrWhiteSpace)) yield return "data.subsets has an empty name";
        }
        string? bad = null;
        try { _ = Stitching.ConnectorInit.Parse(Stitch.ConnectorInit); } catch (ArgumentException e) { bad = "stitch.connector_init: " + e.Message; }
        if (bad is not null) yield return bad;
        FreezePolicy? policy = null;
        try { policy = Freezing.Parse(Freeze.Policy); } catch (ArgumentException e) { bad = "freeze.policy: " + e.Message; }
        if (policy is null) yield return bad!;
        if (policy == FreezePolicy.Lora && Freeze.Lora is null) yield return "freeze.policy is lora but freeze.lora is missing";
        if (policy is { } p && p != FreezePolicy.Lora && Freeze.Lora is not null) yield return $"freeze.lora is given but freeze.policy is {Freeze.Policy}";
        if (Freeze.Dtype is { } dtype)
        {
            string? dtypeProblem = null;
            try
            {
                if (FrozenPrecision.Parse(dtype) == FrozenDtype.BFloat16 && policy is { } q && q != FreezePolicy.ConnectorOnly)
                    dtypeProblem = $"freeze.dtype bfloat16 needs freeze.policy connector (got {Freeze.Policy})";
            }
            catch (ArgumentException e) { dtypeProblem = "freeze.dtype: " + e.Message; }
            if (dtypeProblem is not null) yield return dtypeProblem;
        }
        if (Freeze.Lora is { } l)
        {
            string? loraProblem = null;
            try { new LoraOptions { Rank = l.Rank, Alpha = l.Alpha, Dropout = l.Dropout, Targets = l.Targets }.Validate(); }
            catch (ArgumentException e) { loraProblem = "freeze.lora: " + e.Message; }
            if (loraProblem is not null) yield return loraProblem;
        }
        foreach (var t in Train.Problems()) yield return t;
        if (Train.EvalEvery > 0 && Data.EvalSize == 0) yield return "train.eval_every > 0 but data.eval_size is 0";
        if (MaxLength <= 0) yield return $"max_length must be positive, got {MaxLength}";
        if (!LabelPolicies.Contains(LabelPolicy)) yield return $"label_policy '{LabelPolicy}' is not one of {string.Join(", ", LabelPolicies)}";
    }

    /// <summary>True when every key/value written in <paramref name="fileJson"/> survives a load and save (nothing dropped or altered).</summary>
    public static bool PreservesFile(string fileJson, Experiment loaded) =>
        Subset(JsonNode.Parse(fileJson), JsonNode.Parse(loaded.ToJson()));

    private static bool Subset(JsonNode? a, JsonNode? b) => a switch
    {
        null => b is null,
        JsonObject o => b is JsonObject ob && o.All(kv => ob.ContainsKey(kv.Key) ? Subset(kv.Value, ob[kv.Key]) : kv.Value is null),
        JsonArray arr => b is JsonArray bb && arr.Count == bb.Count && arr.Zip(bb).All(z => Subset(z.First, z.Second)),
        JsonValue v when v.TryGetValue<double>(out var d) => b is JsonValue bv && bv.TryGetValue<double>(out var e) && d == e,
        _ => JsonNode.DeepEquals(a, b),
    };
}

public sealed record ParentsSpec
{
    /// <summary>The VLM whose vision tower (and connector shape) is kept: an HF folder, or "tiny".</summary>
    [JsonPropertyName("vlm")] public string Vlm { get; init; } = Experiment.Tiny;
    /// <summary>The language model that replaces the VLM's text model: an HF folder, or "tiny".</summary>
    [JsonPropertyName("lm")] public string Lm { get; init; } = Experiment.Tiny;
}

public sealed record DataSpec
{
    /// <summary>Which data builder: "tinyworld", "cocoqa", "cauldron" (named by the Data module).</summary>
    [JsonPropertyName("recipe")] public string Recipe { get; init; } = "tinyworld";
    /// <summary>Where the data lives (null: the recipe's default / generated).</summary>
    [JsonPropertyName("root")] public string? Root { get; init; }
    /// <summary>Dataset subsets in order (the Cauldron's 21 for the full run).</summary>
    [JsonPropertyName("subsets")] public IReadOnlyList<string>? Subsets { get; init; }
    /// <summary>Training samples (null: every row left after the eval split).</summary>
    [JsonPropertyName("train_size")] public long? TrainSize { get; init; }
    [JsonPropertyName("eval_size")] public long EvalSize { get; init; } = 64;
    /// <summary>Seed of the shuffle / eval split (the reference's data_seed 42).</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 42;
}

public sealed record StitchSpec
{
    [JsonPropertyName("connector_init")] public string ConnectorInit { get; init; } = "pytorch-default";
    /// <summary>Leave the merger on the parent's image-token id: no image feature reaches the LM (the blog's bug).</summary>
    [JsonPropertyName("broken_wiring")] public bool BrokenWiring { get; init; }
    [JsonPropertyName("seed")] public long Seed { get; init; } = 42;
}

public sealed record FreezeSpec
{
    /// <summary>"connector", "connector+head", "lora" or "full" (see <see cref="FreezePolicy"/>).</summary>
    [JsonPropertyName("policy")] public string Policy { get; init; } = "connector";
    [JsonPropertyName("lora")] public LoraSpec? Lora { get; init; }
    /// <summary>"float32" (default), "bfloat16" or "auto" for the frozen modules (<see cref="FrozenPrecision"/>; connector-only).</summary>
    [JsonPropertyName("dtype"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Dtype { get; init; }
}

public sealed record LoraSpec
{
    [JsonPropertyName("rank")] public int Rank { get; init; } = 8;
    [JsonPropertyName("alpha")] public double Alpha { get; init; } = 16;
    [JsonPropertyName("dropout")] public double Dropout { get; init; }
    /// <summary>Decoder Linear names (q_proj … down_proj) or "all".</summary>
    [JsonPropertyName("targets")] public IReadOnlyList<string> Targets { get; init; } = Stitching.LoraOptions.AttentionTargets;
}
