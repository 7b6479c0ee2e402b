using System.Text.Json.Nodes;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

/// <summary>
/// The smallest case of every file kind from a randomized differential run against the SmolVLM
/// slow processor re-implemented with PIL 9.4 (tests/fixtures/images/make_differential.py): PNG in
/// modes RGB/RGBA/L/1/P (with tRNS), JPEG baseline/progressive/grey, every EXIF rotation, GIF with a
/// transparent index, BMP (RGB and palette), WebP (lossless, lossy, alpha), extreme aspect ratios,
/// and configs without splitting, resizing, rescaling or normalising, or with ImageNet mean/std.
/// Files transformers refuses (grey+alpha, 16-bit) and formats we do not read (TIFF) must fail
/// naming the file.
/// </summary>
public sealed class ImageProcessorDifferentialTests
{
    private static string Dir => Path.Combine(ImageFixtures.Dir, "differential");

    private static readonly Lazy<List<JsonObject>> Cases = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "index.json")))!["cases"]!.AsArray().Select(c => c!.AsObject()).ToList());

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in Cases.Value) data.Add(c["name"]!.GetValue<string>());
        return data;
    }

    [Theory, MemberData(nameof(Names))]
    public void MatchesTransformersOnThePilImage(string name)
    {
        var c = Cases.Value.Single(x => x["name"]!.GetValue<string>() == name);
        string image = Path.Combine(Dir, c["image"]!.GetValue<string>());
        if (c["error"] is not null || c["refused"] is not null)
        {
            var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.LoadRaw(image));
            Assert.Contains(image, e.Message);
            return;
        }
        var config = ImageProcessorConfig.Load(Path.Combine(Dir, c["config"]!.GetValue<string>()));
        var result = new ImageProcessor(config).Process(ImageCodec.LoadRaw(image));
        int[] shape = c["shape"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(shape, new[] { result.NumImages, 3, result.Height, result.Width });
        Assert.Equal(c["rows"]!.GetValue<int>(), result.Rows);
        Assert.Equal(c["cols"]!.GetValue<int>(), result.Cols);

        var bytes = File.ReadAllBytes(Path.Combine(Dir, c["reference"]!.GetValue<string>()));
        var expected = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, expected, 0, bytes.Length);
        // 2/255 of the input range in output units.
        double tol = 2.0 * (config.DoRescale ? config.RescaleFactor : 1) / (config.DoNormalize ? config.ImageStd.Min() : 1);
        double worst = expected.Select((v, i) => Math.Abs(v - result.PixelValues[i])).Max();
        Assert.True(worst <= tol, $"{name}: max |diff| {worst} > {tol}");
    }

    [Fact]
    public async Task PreprocessVerbFailsNamingAFileItCannotRead()
    {
        var refused = Cases.Value.First(c => c["refused"] is not null || c["error"] is not null);
        string image = Path.Combine(Dir, refused["image"]!.GetValue<string>());
        string outPath = Path.Combine(Path.GetTempPath(), $"smvl-refused-{Guid.NewGuid():N}.safetensors");
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new PreprocessVerb(), ["--processor-config", Path.Combine(Dir, refused["config"]!.GetValue<string>()), "--image", image, "--out", outPath]));
        Assert.Contains(image, e.Message);
        Assert.False(File.Exists(outPath));
    }
}
