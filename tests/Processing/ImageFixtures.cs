using System.Text.Json.Nodes;
using SmVL.Processing;

namespace SmVL.Tests.Processing;

/// <summary>
/// The PIL-made fixtures under fixtures/images (see make_reference.py there): inputs, PIL's decodes,
/// Image.resize outputs and SmolVLM processor outputs, described by index.json.
/// </summary>
internal static class ImageFixtures
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "images");

    public static JsonObject Index { get; } = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "index.json")))!;

    public static byte[] Bytes(string relative) => File.ReadAllBytes(Path.Combine(Dir, relative));

    public static DecodedImage Input(string name) => ImageCodec.DecodeRaw(Bytes(Path.Combine("inputs", name)), name);

    /// <summary>The input as PIL decoded it, as RGB (alpha dropped, palette applied, grey replicated).</summary>
    public static RgbImage PilDecode(string name)
    {
        var e = Entries("decode").Single(x => (string)x["input"]! == name);
        return new RgbImage((int)e["width"]!, (int)e["height"]!, Bytes((string)e["file"]!));
    }

    public static IEnumerable<JsonObject> Entries(string section) => Index[section]!.AsArray().Cast<JsonObject>();

    public static float[] Floats(string relative)
    {
        var b = Bytes(relative);
        var f = new float[b.Length / 4];
        Buffer.BlockCopy(b, 0, f, 0, b.Length);
        return f;
    }

    /// <summary>Largest absolute difference and the fraction of equal bytes.</summary>
    public static (int MaxDiff, double FractionExact) Compare(byte[] expected, byte[] actual)
    {
        if (expected.Length != actual.Length) throw new ArgumentException($"lengths differ: {expected.Length} vs {actual.Length}");
        int max = 0, exact = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            max = Math.Max(max, d);
            if (d == 0) exact++;
        }
        return (max, (double)exact / expected.Length);
    }
}
