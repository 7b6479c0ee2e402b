using System.Text.Json.Nodes;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

public sealed class ImageProcessorConfigTests
{
    /// <summary>SmolVLM2's preprocessor_config.json as published (digest §2.1), incl. keys we do not model.</summary>
    private const string SmolVLM2Json = """
        {
          "do_convert_rgb": true,
          "do_image_splitting": true,
          "do_normalize": true,
          "do_pad": true,
          "do_rescale": true,
          "do_resize": true,
          "image_mean": [0.5, 0.5, 0.5],
          "image_processor_type": "SmolVLMImageProcessor",
          "image_std": [0.5, 0.5, 0.5],
          "max_image_size": {"longest_edge": 512},
          "processor_class": "SmolVLMProcessor",
          "resample": 1,
          "rescale_factor": 0.00392156862745098,
          "size": {"longest_edge": 2048},
          "video_sampling": {"fps": 1, "max_frames": 64, "video_size": {"longest_edge": 512}}
        }
        """;

    [Fact]
    public void ParsesSmolVLM2Values()
    {
        var c = ImageProcessorConfig.Parse(SmolVLM2Json, "smolvlm2.json");
        Assert.Equal(2048, c.LongestEdge);
        Assert.Equal(512, c.MaxImageSize);
        Assert.Equal(PilResample.Lanczos, c.Resample);
        Assert.Equal(1 / 255.0, c.RescaleFactor);
        Assert.Equal([0.5, 0.5, 0.5], c.ImageMean);
        Assert.True(c.DoImageSplitting && c.DoPad && c.DoConvertRgb);
        Assert.Equal(["image_processor_type", "processor_class", "video_sampling"], c.Extra.Select(kv => kv.Key).ToArray());
    }

    [Fact]
    public void RoundTripKeepsEveryKeyAndValue()
    {
        var written = ImageProcessorConfig.Parse(SmolVLM2Json, "smolvlm2.json").ToJson();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SmolVLM2Json), JsonNode.Parse(written)), written);
        var keys = ((JsonObject)JsonNode.Parse(written)!).Select(kv => kv.Key).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal).ToList(), keys); // HF writes sorted keys
    }

    [Fact]
    public void PresetEqualsThePublishedFile()
    {
        var preset = ImageProcessorConfig.SmolVLM2;
        var published = ImageProcessorConfig.Parse(SmolVLM2Json, "smolvlm2.json");
        var a = (JsonObject)JsonNode.Parse(preset.ToJson())!;
        var b = (JsonObject)JsonNode.Parse(published.ToJson())!;
        b.Remove("video_sampling"); // video settings are not part of the image preset
        Assert.True(JsonNode.DeepEquals(a, b), preset.ToJson());
    }

    [Fact]
    public void ReadsTheScaledDownFixtureConfig()
    {
        var c = ImageProcessorConfig.Load(Path.Combine(ImageFixtures.Dir, "pipeline", "split48x16.preprocessor_config.json"));
        Assert.Equal((48, 16), (c.LongestEdge, c.MaxImageSize));
    }

    [Fact]
    public void MissingKeysTakeTransformersDefaults()
    {
        var c = ImageProcessorConfig.Parse("{}", "empty.json");
        Assert.Equal((4 * 364, 364, PilResample.Lanczos), (c.LongestEdge, c.MaxImageSize, c.Resample));
    }

    [Theory]
    [InlineData("""{"size": {"height": 10, "width": 20}}""", "size")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "image_mean")]
    [InlineData("""{"do_resize": "yes"}""", "bad.json")]
    [InlineData("""[1, 2]""", "bad.json")]
    public void BadValuesNameTheFileAndKey(string json, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ImageProcessorConfig.Parse(json, "bad.json"));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
