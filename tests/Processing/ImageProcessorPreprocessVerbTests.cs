using System.Text;
using System.Text.Json.Nodes;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Processing;
using Xunit;

namespace SmVL.Tests.Processing;

public sealed class ImageProcessorPreprocessVerbTests
{
    [Fact]
    public async Task WritesPixelValuesRowsAndColsAsSafetensors()
    {
        string config = Path.Combine(ImageFixtures.Dir, "pipeline", "split48x16.preprocessor_config.json");
        string image = Path.Combine(ImageFixtures.Dir, "inputs", "rgba.png");
        string outPath = Path.Combine(Path.GetTempPath(), $"smvl-preprocess-{Guid.NewGuid():N}.safetensors");
        try
        {
            int rc = await Cli.Invoke(new PreprocessVerb(), ["--processor-config", config, "--image", image, "--out", outPath]);
            Assert.Equal(0, rc);

            var bytes = File.ReadAllBytes(outPath);
            long n = BitConverter.ToInt64(bytes, 0);
            Assert.Equal(0, n % 8);
            var header = (JsonObject)JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!;
            int data = 8 + (int)n;

            var pv = header["pixel_values"]!;
            Assert.Equal("F32", (string)pv["dtype"]!);
            Assert.Equal([7L, 3, 16, 16], pv["shape"]!.AsArray().Select(x => (long)x!).ToArray());
            var expected = new ImageProcessor(ImageProcessorConfig.Load(config)).Process(ImageCodec.LoadRaw(image));
            var (s, e) = ((int)pv["data_offsets"]![0]!, (int)pv["data_offsets"]![1]!);
            var floats = new float[(e - s) / 4];
            Buffer.BlockCopy(bytes, data + s, floats, 0, e - s);
            Assert.Equal(expected.PixelValues, floats);

            Assert.Equal(3L, ReadI64(bytes, data, header["rows"]!));
            Assert.Equal(2L, ReadI64(bytes, data, header["cols"]!));
        }
        finally { File.Delete(outPath); }
    }

    [Fact]
    public async Task MissingOptionIsAUsageError()
    {
        var e = await Assert.ThrowsAsync<CliException>(() => Cli.Invoke(new PreprocessVerb(), ["--image", "x.png"]));
        Assert.Contains("processor-config", e.Message);
    }

    private static long ReadI64(byte[] bytes, int data, JsonNode entry)
    {
        Assert.Equal("I64", (string)entry["dtype"]!);
        Assert.Equal([1L], entry["shape"]!.AsArray().Select(x => (long)x!).ToArray());
        return BitConverter.ToInt64(bytes, data + (int)entry["data_offsets"]![0]!);
    }
}
