using System.Diagnostics;
using SkiaSharp;
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
    [InlineData("photo.jpg", PilMode.Rgb)]      // baseline 4:4:4
    [InlineData("photo_420.jpg", PilMode.Rgb)]  // baseline 4:2:0, odd size
    [InlineData("photo_422.jpg", PilMode.Rgb)]  // baseline 4:2:2
    [InlineData("photo_prog.jpg", PilMode.Rgb)] // progressive 4:2:0
    [InlineData("grey.jpg", PilMode.Grey)]      // PIL mode L
    [InlineData("cmyk.jpg", PilMode.Rgb)]       // PIL mode CMYK, held as its convert("RGB")
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
        // PNG is lossless; JPEG goes through libjpeg-turbo (Skia) with PIL's settings: both identical.
        if (name.EndsWith(".jpg")) Assert.False(ImageCodecSkia.Unavailable, "libSkiaSharp did not load, so JPEG fell back to StbImageSharp");
        Assert.Equal(0, maxDiff);
    }

    /// <summary>
    /// The fallback used when libSkiaSharp cannot load: StbImageSharp's JPEG decoder (own IDCT and
    /// chroma upsampling). Measured against PIL: max 1–3 levels on 4:4:4/4:2:0/progressive/grey/CMYK,
    /// but up to ~50 on 4:2:2 (stb upsamples 2×1 chroma differently at edges), hence Skia.
    /// </summary>
    [Theory]
    [InlineData("photo.jpg", 3)]
    [InlineData("photo_420.jpg", 3)]
    [InlineData("photo_prog.jpg", 3)]
    [InlineData("grey.jpg", 1)]
    [InlineData("cmyk.jpg", 3)]
    [InlineData("photo_422.jpg", 255)]
    public void StbFallbackIsCloseButNotExact(string name, int bound)
    {
        var pil = ImageFixtures.PilDecode(name);
        var stb = ImageCodec.DecodeRawStb(ImageFixtures.Bytes(Path.Combine("inputs", name)), name).ToRgb();
        var (maxDiff, exact) = ImageFixtures.Compare(pil.Pixels, stb.Pixels);
        output.WriteLine($"{name} via StbImageSharp: max diff {maxDiff}, exact {exact:P2}");
        Assert.True(maxDiff <= bound, $"stb differs from PIL by {maxDiff}");
    }

    /// <summary>The fallback's own truncation check (stb would pad a cut scan): every fixture JPEG passes, cut ones do not.</summary>
    [Fact]
    public void FallbackDetectsTruncatedJpegs()
    {
        foreach (var name in new[] { "photo.jpg", "photo_420.jpg", "photo_422.jpg", "photo_prog.jpg", "grey.jpg", "cmyk.jpg" })
        {
            var bytes = ImageFixtures.Bytes(Path.Combine("inputs", name));
            Assert.True(ImageCodec.EndsScanWithEoi(bytes), name);
            Assert.False(ImageCodec.EndsScanWithEoi(bytes[..^2]), name + " without EOI");
            Assert.False(ImageCodec.EndsScanWithEoi(bytes[..(bytes.Length / 2)]), name + " cut in half");
        }
    }

    /// <summary>Decode through ImageCodec, then the processor, against PIL opening the JPEG and processing it.</summary>
    [Theory]
    [InlineData("photo_prog.jpg")]
    [InlineData("grey.jpg")]
    public void DecodedJpegThroughProcessorMatchesPil(string name)
    {
        var e = ImageFixtures.Entries("jpeg_pipeline").Single(x => (string)x["input"]! == name);
        var config = ImageProcessorConfig.Load(Path.Combine(ImageFixtures.Dir, "pipeline", $"{(string)e["config"]!}.preprocessor_config.json"));
        var result = new ImageProcessor(config).Process(ImageCodec.LoadRaw(Path.Combine(ImageFixtures.Dir, "inputs", name)));

        Assert.Equal(((int)e["num_images"]!, (int)e["height"]!, (int)e["width"]!), (result.NumImages, result.Height, result.Width));
        Assert.Equal(((int)e["rows"]!, (int)e["cols"]!), (result.Rows, result.Cols));
        var expected = ImageFixtures.Floats((string)e["file"]!);
        Assert.Equal(expected.Length, result.PixelValues.Length);
        double max = 0;
        int exact = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            max = Math.Max(max, Math.Abs(expected[i] - result.PixelValues[i]));
            if (expected[i] == result.PixelValues[i]) exact++;
        }
        output.WriteLine($"{name}: {result.NumImages}x3x{result.Height}x{result.Width}: max diff {max:G4}, exact {(double)exact / expected.Length:P2}");
        Assert.True(max <= 2.0 / 255 / 0.5 + 1e-6, $"max diff {max} exceeds 2/255 after normalisation");
        Assert.Equal(expected.Length, exact); // the decode is exact, so the whole pipeline is
    }

    [Fact]
    public void SkiaNativeLibraryLoads()
    {
        var img = ImageCodecSkia.DecodeJpeg(ImageFixtures.Bytes("inputs/photo.jpg"), "photo.jpg");
        Assert.Equal((32, 24, PilMode.Rgb), (img.Width, img.Height, img.Mode));
        output.WriteLine($"SkiaSharp {SkiaSharpVersion.Native} loaded from the test output");
    }

    /// <summary>Decode time of a 1076×584 JPEG (the demo image size), Skia vs the stb fallback.</summary>
    [Fact]
    public void JpegDecodeTimeAt1076x584()
    {
        byte[] jpeg = EncodeJpeg(1076, 584, quality: 90);
        foreach (var (label, decode) in new (string, Func<byte[], DecodedImage>)[]
                 { ("skia", b => ImageCodec.DecodeRaw(b, "demo.jpg")), ("stb", b => ImageCodec.DecodeRawStb(b, "demo.jpg")) })
        {
            for (int i = 0; i < 3; i++) decode(jpeg);
            var ms = new List<double>();
            for (int i = 0; i < 15; i++)
            {
                var sw = Stopwatch.StartNew();
                var img = decode(jpeg);
                ms.Add(sw.Elapsed.TotalMilliseconds);
                Assert.Equal((1076, 584), (img.Width, img.Height));
            }
            ms.Sort();
            output.WriteLine($"{label}: 1076x584 JPEG ({jpeg.Length} bytes) decoded in median {ms[ms.Count / 2]:F1} ms, min {ms[0]:F1} ms");
        }
    }

    private static byte[] EncodeJpeg(int w, int h, int quality)
    {
        var rng = new Random(5);
        using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var px = new byte[w * h * 4];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 4;
                px[i] = (byte)(255 * x / (w - 1));
                px[i + 1] = (byte)(255 * y / (h - 1));
                px[i + 2] = (byte)Math.Clamp(128 + 100 * Math.Sin(x * 0.05) * Math.Cos(y * 0.07) + rng.Next(-40, 41), 0, 255);
                px[i + 3] = 255;
            }
        System.Runtime.InteropServices.Marshal.Copy(px, 0, bitmap.GetPixels(), px.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
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
    [InlineData("photo_prog.jpg")]
    [InlineData("grey.jpg")]
    public void CorruptBytesNameTheSource(string name)
    {
        var bytes = ImageFixtures.Bytes(Path.Combine("inputs", name));
        var truncated = bytes[..(bytes.Length / 3)];
        var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(truncated, "cut-" + name));
        Assert.Contains("cut-" + name, e.Message);
        output.WriteLine(e.Message);
    }

    [Theory]
    [InlineData(0.95)] // only the tail (and EOI) missing: libjpeg would pad with grey; PIL raises, so do we
    [InlineData(0.5)]
    [InlineData(0.02)] // inside the headers
    public void TruncatedJpegNamesTheSource(double keep)
    {
        var bytes = ImageFixtures.Bytes("inputs/photo_420.jpg");
        var cut = bytes[..(int)(bytes.Length * keep)];
        var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.DecodeRaw(cut, "cut.jpg"));
        Assert.Contains("cut.jpg", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void GarbageJpegNamesTheSource()
    {
        // A JPEG signature followed by noise, and a real header followed by noise.
        var rng = new Random(11);
        var noise = new byte[600];
        rng.NextBytes(noise);
        byte[] fakeHeader = [0xFF, 0xD8, 0xFF, .. noise];
        var real = ImageFixtures.Bytes("inputs/photo.jpg");
        var scrambled = (byte[])real.Clone();
        for (int i = real.Length / 4; i < real.Length; i++) scrambled[i] = (byte)rng.Next(256);
        foreach (var (bytes, label) in new[] { (fakeHeader, "noise.jpg"), (scrambled, "scrambled.jpg") })
        {
            var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.DecodeRaw(bytes, label));
            Assert.Contains(label, e.Message);
            output.WriteLine(e.Message);
        }
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
