using System.Text;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Checkpoints;

public class SafetensorsTests
{
    [Fact]
    public void ReadsPythonWrittenFileAndMatchesRawBytes()
    {
        var path = Fixtures.ParityA("qwen3", "model.safetensors");
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        var info = file.Tensors["model.layers.0.self_attn.k_proj.weight"];
        Assert.Equal(new long[] { 32, 64 }, info.Shape);
        using var t = file.Read(info.Name);
        // Decode the same bytes independently of TorchSharp: header length, then raw float32 LE.
        var bytes = File.ReadAllBytes(path);
        long dataStart = 8 + BitConverter.ToInt64(bytes, 0);
        var expected = new float[32 * 64];
        Buffer.BlockCopy(bytes, (int)(dataStart + info.Begin), expected, 0, expected.Length * 4);
        Assert.Equal(expected, t.data<float>().ToArray());
    }

    [Fact]
    public void EveryDtypeRoundTripsBitExactly()
    {
        var dir = Fixtures.TempDir();
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 5), ["f64"] = randn(4, dtype: float64), ["f16"] = randn(2, 3).to(float16),
            ["bf16"] = randn(7).to(bfloat16), ["i64"] = randint(-1000, 1000, new long[] { 6 }, dtype: int64),
            ["i32"] = randint(-1000, 1000, new long[] { 2, 2 }, dtype: int32), ["u8"] = randint(0, 255, new long[] { 9 }, dtype: uint8),
            ["bool"] = rand(5).gt(0.5), ["scalar"] = tensor(3.5f), ["empty"] = zeros(0, 4),
        };
        var path = Path.Combine(dir, "all.safetensors");
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var back = Safetensors.Load(path);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.True(Fixtures.Same(t, back[k]), k);
        }
        // Header is 8-byte aligned and keys are sorted, as the Python library writes them.
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        var keys = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject().Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), keys);
    }

    [Fact]
    public void Bf16LoadsAsStoredOrConverted()
    {
        var dir = Fixtures.TempDir();
        var source = randn(64, 33);
        var bf = source.to(bfloat16);
        var path = Path.Combine(dir, "bf.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = bf });
        using var file = SafetensorsFile.Open(path);
        using var stored = file.Read("w");
        using var f32 = file.Read("w", float32);
        Assert.Equal(ScalarType.BFloat16, stored.dtype);
        // Independent conversion: a bf16 value is the top 16 bits of a float32.
        var raw = File.ReadAllBytes(path);
        long start = 8 + BitConverter.ToInt64(raw, 0);
        var expected = Enumerable.Range(0, 64 * 33).Select(i => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(raw, (int)start + 2 * i) << 16)).ToArray();
        Assert.Equal(expected, f32.data<float>().ToArray());
    }

    private static string WriteRaw(string header, int dataBytes, int declaredHeaderLen = -1)
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "bad.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((long)(declaredHeaderLen >= 0 ? declaredHeaderLen : h.Length)));
        fs.Write(h);
        fs.Write(new byte[dataBytes]);
        return path;
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "w", "outside")]        // truncated data
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}""", 16, "w", "needs")]         // wrong byte size
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 16, "b", "overlaps")]
    [InlineData("""{"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,2]}}""", 2, "w", "dtype")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]""", 16, "", "JSON")]
    public void CorruptFilesGiveErrorsNamingFileAndTensor(string header, int dataBytes, string tensor, string what)
    {
        var path = WriteRaw(header, dataBytes);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(tensor, e.Message);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondFileIsRejected()
    {
        var path = WriteRaw("{}", 0, declaredHeaderLen: 1 << 20);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TruncatedRealCheckpointIsRejected()
    {
        var dir = Fixtures.TempDir();
        var bytes = File.ReadAllBytes(Fixtures.ParityA("qwen3", "model.safetensors"));
        var path = Path.Combine(dir, "model.safetensors");
        File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains("model.norm.weight", e.Message);   // the last tensor in the file is the one cut
    }
}
