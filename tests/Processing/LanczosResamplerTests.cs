using SmVL.Processing;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Processing;

public sealed class LanczosResamplerTests(ITestOutputHelper output)
{
    public static TheoryData<string> ResizeCases()
    {
        var data = new TheoryData<string>();
        foreach (var e in ImageFixtures.Entries("resize")) data.Add((string)e["file"]!);
        return data;
    }

    /// <summary>Against PIL's Image.resize (LANCZOS, RGBA premultiplied; NEAREST for grey/palette).</summary>
    [Theory]
    [MemberData(nameof(ResizeCases))]
    public void MatchesPilResize(string file)
    {
        var e = ImageFixtures.Entries("resize").Single(x => (string)x["file"]! == file);
        string input = (string)e["input"]!;
        int w = (int)e["width"]!, h = (int)e["height"]!;
        // JPEG: start from PIL's own decode so that only the resampler is under test.
        var source = input.EndsWith(".jpg") ? DecodedImage.FromRgb(ImageFixtures.PilDecode(input)) : ImageFixtures.Input(input);
        var filter = (string)e["filter"]! == "NEAREST" ? PilResample.Nearest : PilResample.Lanczos;

        var resized = ImageProcessorResize.Resize(source, w, h, filter);

        var expected = ImageFixtures.Bytes(file);
        var (maxDiff, exact) = ImageFixtures.Compare(expected, resized.Pixels);
        output.WriteLine($"{file}: {source.Width}x{source.Height} {source.Mode} -> {w}x{h}: max diff {maxDiff}, exact {exact:P2}");
        Assert.Equal((w, h), (resized.Width, resized.Height));
        Assert.True(maxDiff <= 2, $"max diff {maxDiff} > 2/255");
        Assert.True(exact >= 0.99, $"only {exact:P2} of bytes equal PIL's");
    }

    [Fact]
    public void KernelsAreNormalisedToOneInFixedPoint()
    {
        foreach (var (n, m) in new[] { (37, 10), (10, 37), (1076, 2048), (2048, 512), (1536, 512), (7, 7) })
        {
            var co = new LanczosCoefficients(n, m);
            for (int i = 0; i < m; i++)
            {
                long sum = 0;
                for (int t = 0; t < co.Count[i]; t++) sum += co.Kernel[i * co.KSize + t];
                // each weight is rounded separately, so the sum may be off by one unit per tap
                Assert.InRange(sum, (1L << 22) - co.Count[i], (1L << 22) + co.Count[i]);
                Assert.InRange(co.Start[i], 0, n - 1);
                Assert.InRange(co.Start[i] + co.Count[i], 1, n);
            }
        }
    }

    /// <summary>The scalar loops (used without AVX2) must agree with the SIMD ones byte for byte.</summary>
    [Theory]
    [InlineData(3, 37, 23, 90, 61)]
    [InlineData(4, 37, 23, 11, 7)]
    [InlineData(4, 64, 40, 64, 77)]
    [InlineData(1, 25, 25, 48, 13)]
    [InlineData(2, 19, 29, 40, 8)]
    public void ScalarAndSimdPathsAgree(int channels, int w, int h, int ow, int oh)
    {
        var src = new byte[w * h * channels];
        new Random(w * h + channels).NextBytes(src);
        Assert.Equal(LanczosResampler.Resize(src, w, h, channels, ow, oh, simd: false),
                     LanczosResampler.Resize(src, w, h, channels, ow, oh, simd: true));
    }

    [Fact]
    public void ConstantImageStaysConstant()
    {
        var src = Enumerable.Repeat((byte)173, 29 * 17 * 3).ToArray();
        var dst = LanczosResampler.Resize(src, 29, 17, 3, 64, 9);
        Assert.All(dst, v => Assert.Equal(173, v));
    }

    [Fact]
    public void RejectsWrongBufferSize()
    {
        var e = Assert.Throws<ArgumentException>(() => LanczosResampler.Resize(new byte[10], 2, 2, 3, 4, 4));
        Assert.Contains("2x2x3", e.Message);
    }
}
