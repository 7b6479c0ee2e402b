using System.Diagnostics;
using SmVL.Processing;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Processing;

public sealed class ImageProcessorTests(ITestOutputHelper output)
{
    public static TheoryData<string> PipelineCases()
    {
        var data = new TheoryData<string>();
        foreach (var e in ImageFixtures.Entries("pipeline")) data.Add((string)e["file"]!);
        return data;
    }

    /// <summary>Against the processor re-implemented on PIL in make_reference.py (scaled-down configs).</summary>
    [Theory]
    [MemberData(nameof(PipelineCases))]
    public void MatchesPilPipeline(string file)
    {
        var e = ImageFixtures.Entries("pipeline").Single(x => (string)x["file"]! == file);
        var config = ImageProcessorConfig.Load(Path.Combine(ImageFixtures.Dir, "pipeline", $"{(string)e["config"]!}.preprocessor_config.json"));
        var input = (string)e["input"]!;

        // JPEG: start from PIL's decode (decoders differ by a few levels, which the upscale amplifies);
        // the decoder itself is checked in ImageCodecTests.
        var image = input.EndsWith(".jpg") ? DecodedImage.FromRgb(ImageFixtures.PilDecode(input)) : ImageFixtures.Input(input);
        var result = new ImageProcessor(config).Process(image);

        Assert.Equal(((int)e["num_images"]!, (int)e["height"]!, (int)e["width"]!), (result.NumImages, result.Height, result.Width));
        Assert.Equal(((int)e["rows"]!, (int)e["cols"]!), (result.Rows, result.Cols));
        var expected = ImageFixtures.Floats(file);
        Assert.Equal(expected.Length, result.PixelValues.Length);
        double max = 0;
        int exact = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - result.PixelValues[i]);
            max = Math.Max(max, d);
            if (expected[i] == result.PixelValues[i]) exact++;
        }
        output.WriteLine($"{file}: {result.NumImages}x3x{result.Height}x{result.Width}, rows {result.Rows} cols {result.Cols}: max diff {max:G4}, exact {(double)exact / expected.Length:P2}");
        Assert.True(max <= 2.0 / 255 / 0.5 + 1e-6, $"max diff {max} exceeds 2/255 after normalisation");
        // Same decoded pixels in, so every value should equal PIL + numpy's bit for bit.
        Assert.Equal(expected.Length, exact);
    }

    [Fact]
    public void DemoImageSizeGivesThreeByFourTilesPlusGlobal()
    {
        var p = new ImageProcessor(ImageProcessorConfig.SmolVLM2);
        Assert.Equal((2048, 1112), ImageProcessor.ResizeTarget(1076, 584, 2048));
        Assert.Equal((2048, 1536), ImageProcessor.VisionEncoderTarget(2048, 1112, 512));
        Assert.Equal((3, 4), p.Grid(1076, 584));

        var sw = Stopwatch.StartNew();
        var r = p.Process(Synthetic(1076, 584, seed: 1));
        output.WriteLine($"1076x584 RGB -> {r.NumImages}x3x{r.Height}x{r.Width} in {sw.ElapsedMilliseconds} ms");

        Assert.Equal((13, 512, 512, 3, 4), (r.NumImages, r.Height, r.Width, r.Rows, r.Cols));
        Assert.Equal(13 * 3 * 512 * 512, r.PixelValues.Length);
        Assert.Equal(832, r.NumImages * 64); // image tokens after pixel shuffle (64 per 512 crop)
        Assert.All(r.PixelValues, v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void SquareImageGivesFourByFour()
    {
        var p = new ImageProcessor(ImageProcessorConfig.SmolVLM2);
        Assert.Equal((4, 4), p.Grid(2048, 2048));
        Assert.Equal((4, 4), p.Grid(300, 300)); // small images are upscaled to 2048 first
        var r = p.Process(Synthetic(1024, 1024, seed: 2));
        Assert.Equal((17, 512, 512, 4, 4), (r.NumImages, r.Height, r.Width, r.Rows, r.Cols));
    }

    [Theory]
    [InlineData(1076, 584, 2048, 2048, 1112)]
    [InlineData(584, 1076, 2048, 1112, 2048)]
    [InlineData(37, 23, 48, 48, 30)]   // 29.8 -> 29 -> odd -> 30
    [InlineData(19, 29, 48, 32, 48)]   // 31.4 -> 31 -> odd -> 32
    [InlineData(100, 1, 2048, 2048, 20)] // 20.48 -> 20
    [InlineData(4000, 100, 8192, 4096, 102)] // 8192x204, then capped: 4096 / (8192/204) -> 102 (no even rule)
    public void ResizeTargetFollowsTransformersRounding(int w, int h, int longest, int ew, int eh) =>
        Assert.Equal((ew, eh), ImageProcessor.ResizeTarget(w, h, longest));

    [Fact]
    public void UnsplitImageIsOneCropWithZeroRowsAndCols()
    {
        var p = new ImageProcessor(ImageProcessorConfig.SmolVLM2 with { DoImageSplitting = false });
        Assert.Equal((0, 0), p.Grid(1076, 584));
        var r = p.Process(Synthetic(300, 200, seed: 3));
        Assert.Equal((1, 512, 512, 0, 0), (r.NumImages, r.Height, r.Width, r.Rows, r.Cols));
    }

    [Fact]
    public void TilesAreRowMajorCropsAndGlobalIsLast()
    {
        // Rescale and normalise off: values are the uint8 pixels, so crops can be compared directly.
        var cfg = new ImageProcessorConfig { LongestEdge = 48, MaxImageSize = 16, DoRescale = false, DoNormalize = false };
        var input = ImageFixtures.Input("rgb.png");
        var r = new ImageProcessor(cfg).Process(input);
        var resized = ImageProcessorResize.Resize(ImageProcessorResize.Resize(input, 48, 30, PilResample.Lanczos), 48, 32, PilResample.Lanczos);
        Assert.Equal((2, 3), (r.Rows, r.Cols));
        for (int tile = 0; tile < 6; tile++)
        {
            int r0 = tile / 3 * 16, c0 = tile % 3 * 16;
            Assert.Equal(resized.Pixels[((r0 + 5) * 48 + c0 + 7) * 3 + 1], r.PixelValues[(tile * 3 + 1) * 256 + 5 * 16 + 7]);
        }
        var global = ImageProcessorResize.Resize(resized, 16, 16, PilResample.Lanczos);
        Assert.Equal(global.Pixels[(3 * 16 + 9) * 3 + 2], r.PixelValues[(6 * 3 + 2) * 256 + 3 * 16 + 9]);
    }

    [Fact]
    public void AnEngineGetsTheResizedImageTheTilesAreCutFromAndTheGlobalCrop()
    {
        var cfg = new ImageProcessorConfig { LongestEdge = 48, MaxImageSize = 16, DoRescale = false, DoNormalize = false };
        var input = ImageFixtures.Input("rgb.png").ToRgb();
        var p = new ImageProcessor(cfg);
        var crops = p.ForEngine(input);
        var resized = ImageProcessorResize.Resize(ImageProcessorResize.Resize(DecodedImage.FromRgb(input), 48, 30, PilResample.Lanczos), 48, 32, PilResample.Lanczos);
        Assert.Equal((48, 32), (crops.Tiling!.Width, crops.Tiling.Height));
        Assert.Equal(resized.Pixels, crops.Tiling.Pixels);
        // Another engine that tiles it (no resize of its own at this size) cuts the same tiles; the global crop is SmVL's last.
        var processed = p.Process(input);
        Assert.Equal(processed.PixelValues, p.Process(crops.Tiling).PixelValues);
        var global = crops.Global.Pixels;
        Assert.Equal((16, 16), (crops.Global.Width, crops.Global.Height));
        int plane = 16 * 16, last = (processed.NumImages - 1) * 3 * plane;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(global[i * 3 + c], processed.PixelValues[last + c * plane + i]);
        // An image small enough not to be split has no tiling input; its global crop is the whole image.
        var small = new ImageProcessor(cfg with { LongestEdge = 16 }).ForEngine(input);
        Assert.Null(small.Tiling);
        Assert.Equal((16, 16), (small.Global.Width, small.Global.Height));
    }

    [Fact]
    public void ToTensorHasTheShape()
    {
        var r = new ImageProcessor(new ImageProcessorConfig { LongestEdge = 48, MaxImageSize = 16 }).Process(ImageFixtures.Input("rgb.png"));
        using var t = r.ToTensor();
        Assert.Equal(new long[] { 7, 3, 16, 16 }, t.shape);
        Assert.Equal(r.PixelValues[1000], t.reshape(-1)[1000].item<float>());
    }

    [Fact]
    public void UnsupportedResampleIsRejected()
    {
        var e = Assert.Throws<NotSupportedException>(() => new ImageProcessor(ImageProcessorConfig.SmolVLM2 with { Resample = PilResample.Bicubic }));
        Assert.Contains("resample 3", e.Message);
    }

    private static RgbImage Synthetic(int w, int h, int seed)
    {
        var px = new byte[w * h * 3];
        new Random(seed).NextBytes(px);
        return new RgbImage(w, h, px);
    }
}
