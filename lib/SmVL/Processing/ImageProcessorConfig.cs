using System.Text.Json;
using System.Text.Json.Nodes;

namespace SmVL.Processing;

/// <summary>PIL's resampling filter numbers, as stored in preprocessor_config.json's "resample".</summary>
public enum PilResample { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 }

/// <summary>
/// HF <c>preprocessor_config.json</c> for SmolVLM's image processor, read and written as is
/// (snake_case; keys this class does not model, e.g. video_sampling or processor_class, are kept in
/// <see cref="Extra"/> and written back). Missing keys take SmolVLMImageProcessor's defaults.
/// </summary>
public sealed record ImageProcessorConfig
{
    public bool DoConvertRgb { get; init; } = true;
    public bool DoResize { get; init; } = true;
    /// <summary>size.longest_edge: the image's longest side is scaled (up or down) to this.</summary>
    public int LongestEdge { get; init; } = 4 * 364;
    public PilResample Resample { get; init; } = PilResample.Lanczos;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1 / 255.0;
    public bool DoNormalize { get; init; } = true;
    public double[] ImageMean { get; init; } = [0.5, 0.5, 0.5];
    public double[] ImageStd { get; init; } = [0.5, 0.5, 0.5];
    public bool DoImageSplitting { get; init; } = true;
    /// <summary>max_image_size.longest_edge: the tile side (and the vision encoder's input side).</summary>
    public int MaxImageSize { get; init; } = 364;
    public bool DoPad { get; init; } = true;
    /// <summary>Keys not modelled above, in file order, written back unchanged.</summary>
    public JsonObject Extra { get; init; } = new();

    /// <summary>SmolVLM2-256M-Video-Instruct's values (digest §2.1): 2048 longest edge, 512 tiles.</summary>
    public static ImageProcessorConfig SmolVLM2 => new()
    {
        LongestEdge = 2048,
        MaxImageSize = 512,
        Extra = new JsonObject
        {
            ["image_processor_type"] = "SmolVLMImageProcessor",
            ["processor_class"] = "SmolVLMProcessor",
        },
    };

    private static readonly string[] Known =
    [
        "do_convert_rgb", "do_resize", "size", "resample", "do_rescale", "rescale_factor", "do_normalize",
        "image_mean", "image_std", "do_image_splitting", "max_image_size", "do_pad",
    ];

    public static ImageProcessorConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"processor config not found: {path}", path);
        return Parse(File.ReadAllText(path), path);
    }

    public static ImageProcessorConfig Parse(string json, string source)
    {
        JsonObject o;
        try { o = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("top level is not a JSON object"); }
        catch (Exception e) when (e is JsonException or FormatException) { throw new FormatException($"{source}: {e.Message}", e); }
        try
        {
            var d = new ImageProcessorConfig();
            var extra = new JsonObject();
            foreach (var (key, value) in o)
                if (!Known.Contains(key)) extra[key] = value?.DeepClone();
            return new ImageProcessorConfig
            {
                DoConvertRgb = Bool(o, "do_convert_rgb", d.DoConvertRgb),
                DoResize = Bool(o, "do_resize", d.DoResize),
                LongestEdge = LongestEdgeOf(o, "size", d.LongestEdge),
                Resample = o["resample"] is { } r ? (PilResample)r.GetValue<int>() : d.Resample,
                DoRescale = Bool(o, "do_rescale", d.DoRescale),
                RescaleFactor = o["rescale_factor"]?.GetValue<double>() ?? d.RescaleFactor,
                DoNormalize = Bool(o, "do_normalize", d.DoNormalize),
                ImageMean = PerChannel(o, "image_mean", d.ImageMean),
                ImageStd = PerChannel(o, "image_std", d.ImageStd),
                DoImageSplitting = Bool(o, "do_image_splitting", d.DoImageSplitting),
                MaxImageSize = LongestEdgeOf(o, "max_image_size", d.MaxImageSize),
                DoPad = Bool(o, "do_pad", d.DoPad),
                Extra = extra,
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NotSupportedException)
        {
            throw new FormatException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>The JSON HF's save_pretrained writes: keys sorted, two-space indent, trailing newline.</summary>
    public string ToJson()
    {
        var all = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["do_convert_rgb"] = DoConvertRgb,
            ["do_resize"] = DoResize,
            ["size"] = new JsonObject { ["longest_edge"] = LongestEdge },
            ["resample"] = (int)Resample,
            ["do_rescale"] = DoRescale,
            ["rescale_factor"] = RescaleFactor,
            ["do_normalize"] = DoNormalize,
            ["image_mean"] = new JsonArray(ImageMean.Select(v => (JsonNode?)v).ToArray()),
            ["image_std"] = new JsonArray(ImageStd.Select(v => (JsonNode?)v).ToArray()),
            ["do_image_splitting"] = DoImageSplitting,
            ["max_image_size"] = new JsonObject { ["longest_edge"] = MaxImageSize },
            ["do_pad"] = DoPad,
        };
        foreach (var (key, value) in Extra) all[key] = value?.DeepClone();
        var o = new JsonObject();
        foreach (var (key, value) in all) o[key] = value;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true, IndentSize = 2 }) + "\n";
    }

    public void Save(string path) => File.WriteAllText(path, ToJson());

    private static bool Bool(JsonObject o, string key, bool fallback) => o[key]?.GetValue<bool>() ?? fallback;

    private static int LongestEdgeOf(JsonObject o, string key, int fallback)
    {
        if (o[key] is not JsonObject size) return o[key] is null ? fallback : throw new FormatException($"\"{key}\" must be an object");
        if (size.Count != 1 || size["longest_edge"] is not { } le)
            throw new NotSupportedException($"\"{key}\" must be {{\"longest_edge\": N}}, got {size.ToJsonString()}");
        int v = le.GetValue<int>();
        return v > 0 ? v : throw new FormatException($"\"{key}.longest_edge\" must be positive, got {v}");
    }

    /// <summary>HF accepts one number for all channels or one per channel.</summary>
    private static double[] PerChannel(JsonObject o, string key, double[] fallback) => o[key] switch
    {
        null => fallback,
        JsonArray a when a.Count == 3 => a.Select(v => v!.GetValue<double>()).ToArray(),
        JsonValue v => [v.GetValue<double>(), v.GetValue<double>(), v.GetValue<double>()],
        var other => throw new FormatException($"\"{key}\" must be a number or 3 numbers, got {other.ToJsonString()}"),
    };
}
