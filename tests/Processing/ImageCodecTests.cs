using SmVL.Processing;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Processing;

public sealed class ImageCodecTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("rgb.png", PilMode.Rgb)]
    [InlineData("rgba.png", PilMode.Rgba)]
    [InlineData("grey.png", PilMode.Grey)]
    [InlineData("palette.png", PilMode.Palette)]
    [InlineData("photo.jpg", PilMode.Rgb)]
    public void DecodesWithPilsModeAndPixels(string name, PilMode mode)
    {
        var raw = ImageFixtures.Input(name);
        var pil = ImageFixtures.PilDecode(name);
        Assert.Equal(mode, raw.Mode);
        Assert.Equal((pil.Width, pil.Height), (raw.Width, raw.Height));

        // PIL's reference is convert("RGB"): alpha dropped, so compare colour channels only.
        var colour = raw.Mode == PilMode.Rgba ? (raw with { Mode = PilMode.Rgb, Pixels = DropAlpha(raw.Pixels) }).ToRgb() : raw.ToRgb();
        var (maxDiff, exact) = ImageFixtures.Compare(pil.Pixels, colour.Pixels);
        output.WriteLine($"{name}: max diff {maxDiff}, exact {exact:P2}");
        if (name.EndsWith(".png")) Assert.Equal(0, maxDiff); // lossless: must be identical
        else Assert.True(maxDiff <= 4, $"JPEG decode differs from libjpeg by {maxDiff}"); // IDCTs differ slightly; measured 2
    }

    /// <summary>convert_to_rgb's composite over white for every (value, alpha) pair, against PIL.</summary>
    [Fact]
    public void AlphaCompositeOverWhiteMatchesPilForAllValueAlphaPairs()
    {
        var grid = ImageFixtures.Input("alpha_grid.png");
        var expected = ImageCodec.Decode(ImageFixtures.Bytes("composite/alpha_grid_over_white.png"), "alpha_grid_over_white.png");
        Assert.Equal((256, 256, PilMode.Rgba), (grid.Width, grid.Height, grid.Mode));
        Assert.Equal(expected.Pixels, grid.ToRgb().Pixels);
    }

    [Fact]
    public void EncodePngRoundTrips()
    {
        var img = ImageFixtures.Input("rgb.png").ToRgb();
        var back = ImageCodec.Decode(ImageCodec.EncodePng(img), "round-trip");
        Assert.Equal((img.Width, img.Height), (back.Width, back.Height));
        Assert.Equal(img.Pixels, back.Pixels);
    }

    [Fact]
    public void EmptyBytesNameTheSource()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode([], "empty.png"));
        Assert.Contains("empty.png", e.Message);
    }

    [Fact]
    public void UnknownFormatNamesTheSource()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode("RIFF\0\0\0\0WEBPVP8 not an image we read"u8.ToArray(), "pic.webp"));
        Assert.Contains("pic.webp", e.Message);
    }

    [Theory]
    [InlineData("rgb.png")]
    [InlineData("photo.jpg")]
    public void CorruptBytesNameTheSource(string name)
    {
        var bytes = ImageFixtures.Bytes(Path.Combine("inputs", name));
        var truncated = bytes[..(bytes.Length / 3)];
        var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(truncated, "cut-" + name));
        Assert.Contains("cut-" + name, e.Message);
    }

    [Fact]
    public void MissingFileIsReported()
    {
        var e = Assert.Throws<FileNotFoundException>(() => ImageCodec.Load("/nonexistent/dir/x.png"));
        Assert.Contains("/nonexistent/dir/x.png", e.Message);
    }

    private static byte[] DropAlpha(byte[] rgba)
    {
        var rgb = new byte[rgba.Length / 4 * 3];
        for (int i = 0, j = 0; i < rgba.Length; i += 4, j += 3) { rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2]; }
        return rgb;
    }
}
