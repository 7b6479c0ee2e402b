using System.Text;
using System.Text.Json;
using SmVL.Checkpoints;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Checkpoints;

/// <summary>Test helpers for the checkpoint tests: fixture paths, temp folders, hand-made files.</summary>
internal static class Ckpt
{
    public static string Fixture(params string[] parts) =>
        Path.Combine(new[] { AppContext.BaseDirectory, "fixtures", "parity", "set-a" }.Concat(parts).ToArray());

    public static string Qwen3Model => Fixture("qwen3", "model.safetensors");

    /// <summary>A file with this exact header text (padded with spaces to 8 bytes) and data section.</summary>
    public static string WriteRaw(string dir, string headerJson, byte[] data, string name = "raw.safetensors", long? claimedHeaderLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        int padded = (header.Length + 7) / 8 * 8;
        var path = Path.Combine(dir, name);
        using var fs = File.Create(path);
        using var w = new BinaryWriter(fs);
        w.Write(claimedHeaderLength ?? padded);
        w.Write(header);
        for (int i = header.Length; i < padded; i++) w.Write((byte)' ');
        w.Write(data);
        return path;
    }

    /// <summary>The header of a safetensors file decoded independently of the library (raw bytes + System.Text.Json).</summary>
    public static (long n, JsonElement header, long dataStart) RawHeader(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        long n = r.ReadInt64();
        var json = r.ReadBytes((int)n);
        return (n, JsonDocument.Parse(json).RootElement.Clone(), 8 + n);
    }

    public static byte[] Bytes(Tensor t)
    {
        using var c = t.cpu().contiguous();
        return c.bytes.ToArray();
    }
}

public class SafetensorsTests
{
    // ------------------------------------------------------------------ the Python-written fixture

    [Fact]
    public void FixtureNamesShapesAndDTypesMatchTheConfig()
    {
        using var cfg = JsonDocument.Parse(File.ReadAllText(Ckpt.Fixture("qwen3", "config.json")));
        var c = cfg.RootElement;
        long hidden = c.GetProperty("hidden_size").GetInt64(), vocab = c.GetProperty("vocab_size").GetInt64();
        long inter = c.GetProperty("intermediate_size").GetInt64(), hd = c.GetProperty("head_dim").GetInt64();
        long heads = c.GetProperty("num_attention_heads").GetInt64(), kv = c.GetProperty("num_key_value_heads").GetInt64();
        int layers = c.GetProperty("num_hidden_layers").GetInt32();
        var expected = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [vocab, hidden],
            ["model.norm.weight"] = [hidden],
        };
        for (int i = 0; i < layers; i++)
        {
            var p = $"model.layers.{i}.";
            expected[p + "input_layernorm.weight"] = [hidden];
            expected[p + "post_attention_layernorm.weight"] = [hidden];
            expected[p + "mlp.gate_proj.weight"] = [inter, hidden];
            expected[p + "mlp.up_proj.weight"] = [inter, hidden];
            expected[p + "mlp.down_proj.weight"] = [hidden, inter];
            expected[p + "self_attn.q_proj.weight"] = [heads * hd, hidden];
            expected[p + "self_attn.k_proj.weight"] = [kv * hd, hidden];
            expected[p + "self_attn.v_proj.weight"] = [kv * hd, hidden];
            expected[p + "self_attn.o_proj.weight"] = [hidden, heads * hd];
            expected[p + "self_attn.q_norm.weight"] = [hd];
            expected[p + "self_attn.k_norm.weight"] = [hd];
        }

        using var f = SafetensorsFile.Open(Ckpt.Qwen3Model);
        Assert.Equal(expected.Keys.Order(), f.Tensors.Keys.Order());
        foreach (var (name, shape) in expected)
        {
            var info = f.Tensors[name];
            Assert.Equal(name, info.Name);
            Assert.Equal(shape, info.Shape);
            Assert.Equal("F32", info.DType);
            Assert.Equal(ScalarType.Float32, info.ScalarType);
            using var t = f.Read(name);
            Assert.Equal(shape, t.shape);
            Assert.Equal(ScalarType.Float32, t.dtype);
        }
        Assert.DoesNotContain("lm_head.weight", f.Tensors.Keys); // set A is tied and stores no head
    }

    [Fact]
    public void FixtureValuesEqualAHandDecodingOfTheRawBytes()
    {
        var path = Ckpt.Qwen3Model;
        var (_, header, dataStart) = Ckpt.RawHeader(path);
        using var f = SafetensorsFile.Open(path);
        using var r = new BinaryReader(File.OpenRead(path));
        foreach (var name in new[] { "model.embed_tokens.weight", "model.layers.1.self_attn.k_norm.weight", "model.norm.weight", "model.layers.0.mlp.down_proj.weight" })
        {
            var e = header.GetProperty(name);
            long begin = e.GetProperty("data_offsets")[0].GetInt64(), end = e.GetProperty("data_offsets")[1].GetInt64();
            int count = (int)((end - begin) / 4);
            using var t = f.Read(name);
            using var flat = t.reshape(-1);
            foreach (int i in new[] { 0, 1, count / 3, count / 2, count - 1 })
            {
                r.BaseStream.Position = dataStart + begin + 4L * i;
                float expected = r.ReadSingle();
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(flat[i].item<float>()));
            }
        }
        // First three floats of the data section, decoded with Python's struct module when the test was written.
        using var emb = f.Read("model.embed_tokens.weight");
        Assert.Equal(-0.01280432753264904f, emb[0, 0].item<float>());
        Assert.Equal(-0.0027706148102879524f, emb[0, 1].item<float>());
        Assert.Equal(0.016050992533564568f, emb[0, 2].item<float>());
    }

    [Fact]
    public void FixtureMetadataIsReadInFileOrder()
    {
        using var f = SafetensorsFile.Open(Ckpt.Qwen3Model);
        Assert.True(f.HasMetadata);
        Assert.Equal(new[] { "format", "generator", "set", "seed" }, f.Metadata.Keys);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal("set-a", f.Metadata["set"]);
        Assert.Equal("1", f.Metadata["seed"]);
        Assert.Equal(Ckpt.Qwen3Model, f.Path);
    }

    private static string Resave(string source, string dir)
    {
        var copy = Path.Combine(dir, Path.GetFileName(source));
        using var f = SafetensorsFile.Open(source);
        var tensors = f.Tensors.Keys.Select(k => KeyValuePair.Create(k, f.Read(k))).ToList();
        // Hand them over in another order: the writer must sort them itself.
        tensors.Reverse();
        Safetensors.Save(copy, tensors, f.Metadata);
        foreach (var kv in tensors) kv.Value.Dispose();
        return copy;
    }

    /// <summary>
    /// Re-saving the tensors of a fixture file with its metadata gives the same bytes. The Python
    /// library keeps metadata in a Rust HashMap, so its own key order is arbitrary; we keep the
    /// caller's order, and the reader returns the file's order, which makes this exact.
    /// </summary>
    [Theory]
    [InlineData("qwen3")]
    [InlineData("smolvlm")]
    public void ResavingTheFixtureModelIsByteIdentical(string set)
    {
        var source = Ckpt.Fixture(set, "model.safetensors");
        var copy = Resave(source, Fixtures.TempDir());
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(copy));
    }

    /// <summary>
    /// The reference files mix I64 and F32 and are laid out by name alone (`seq19.input_ids`, I64,
    /// sits between F32 tensors). The safetensors library has sorted by dtype first (widest first)
    /// and then by name since 2023 (`prepare` in safetensors/src/tensor.rs), so these files came from
    /// another writer, and our output, which follows the library, cannot be byte-identical. The
    /// headers are equivalent: same metadata, names, dtypes, shapes and per-tensor bytes.
    /// </summary>
    [Theory]
    [InlineData("qwen3")]
    [InlineData("smolvlm")]
    public void ResavingAMixedDTypeFixtureGivesAnEquivalentHeader(string set)
    {
        var source = Ckpt.Fixture(set, "reference.safetensors");
        var copy = Resave(source, Fixtures.TempDir());
        var (n1, h1, d1) = Ckpt.RawHeader(source);
        var (n2, h2, d2) = Ckpt.RawHeader(copy);
        var raw1 = File.ReadAllBytes(source);
        var raw2 = File.ReadAllBytes(copy);
        Assert.Equal(raw1.Length - 8 - n1, raw2.Length - 8 - n2); // same data size; header lengths differ with the offsets' digits
        Assert.Equal(h1.GetProperty("__metadata__").GetRawText(), h2.GetProperty("__metadata__").GetRawText());
        var names1 = h1.EnumerateObject().Select(p => p.Name).ToList();
        var names2 = h2.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(names1.Order(StringComparer.Ordinal), names2.Order(StringComparer.Ordinal));
        Assert.Contains(h1.EnumerateObject(), p => p.Name != "__metadata__" && p.Value.GetProperty("dtype").GetString() == "I64");
        foreach (var name in names1.Where(x => x != "__metadata__"))
        {
            JsonElement a = h1.GetProperty(name), b = h2.GetProperty(name);
            Assert.Equal(a.GetProperty("dtype").GetString(), b.GetProperty("dtype").GetString());
            Assert.Equal(a.GetProperty("shape").GetRawText(), b.GetProperty("shape").GetRawText());
            long a0 = a.GetProperty("data_offsets")[0].GetInt64(), a1 = a.GetProperty("data_offsets")[1].GetInt64();
            long b0 = b.GetProperty("data_offsets")[0].GetInt64(), b1 = b.GetProperty("data_offsets")[1].GetInt64();
            Assert.Equal(raw1.AsSpan((int)(d1 + a0), (int)(a1 - a0)).ToArray(), raw2.AsSpan((int)(d2 + b0), (int)(b1 - b0)).ToArray());
        }
        // Our order is the library's: all I64 entries first, then F32, each by name.
        var order = names2.Where(x => x != "__metadata__").ToList();
        var expected = order.OrderBy(x => h2.GetProperty(x).GetProperty("dtype").GetString() == "I64" ? 0 : 1).ThenBy(x => x, StringComparer.Ordinal);
        Assert.Equal(expected, order);
    }

    /// <summary>Byte strings asserted by the safetensors library's own Python tests (bindings/python/tests).</summary>
    [Fact]
    public void OutputMatchesTheSafetensorsLibraryTestVectors()
    {
        var dir = Fixtures.TempDir();
        byte[] Save(IEnumerable<KeyValuePair<string, Tensor>> tensors, Dictionary<string, string>? meta = null)
        {
            var path = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".safetensors");
            Safetensors.Save(path, tensors, meta);
            return File.ReadAllBytes(path);
        }
        static byte[] B(string ascii, params byte[] tail) => Encoding.Latin1.GetBytes(ascii).Concat(tail).ToArray();

        // test_pt_comparison.py test_serialization
        using var i32 = zeros(new long[] { 2, 2 }, dtype: int32);
        Assert.Equal(
            B("@\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    ", new byte[16]),
            Save([KeyValuePair.Create("test", i32)]));
        // ... with a bf16 tensor: [[2.25, 1], [1, 1]]
        using var bf = tensor(new float[] { 2.25f, 1, 1, 1 }).reshape(2, 2).to_type(ScalarType.BFloat16);
        Assert.Equal(
            B("@\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}    \x10@\x80?\x80?\x80?"),
            Save([KeyValuePair.Create("test", bf)]));
        // test_simple.py test_serialization_forces_alignment (either input order)
        using var f16 = zeros(new long[] { 2, 2 }, dtype: float16);
        var expected = B("\x80\0\0\0\0\0\0\0{\"test1\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"test2\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[16,24]}}      ", new byte[24]);
        Assert.Equal(expected, Save([KeyValuePair.Create("test1", i32), KeyValuePair.Create("test2", f16)]));
        Assert.Equal(expected, Save([KeyValuePair.Create("test2", f16), KeyValuePair.Create("test1", i32)]));
        // test_simple.py test_serialization_metadata
        Assert.Equal(
            B("`\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"},\"test1\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}} ", new byte[16]),
            Save([KeyValuePair.Create("test1", i32)], new() { ["framework"] = "pt" }));
    }

    /// <summary>Headers the Rust library's tests accept: JSON whitespace before and after the object.</summary>
    [Fact]
    public void WhitespacePaddedHeadersAreAccepted()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "ws.safetensors");
        File.WriteAllBytes(path, [6, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x0A, (byte)'{', (byte)'}', 0x0D, 0x20]);
        using (var f = SafetensorsFile.Open(path)) Assert.Empty(f.Tensors);
        // safetensors/src/tensor.rs test_zero_sized_tensor (note the space inside data_offsets)
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("<\0\0\0\0\0\0\0{\"test\":{\"dtype\":\"I32\",\"shape\":[2,0],\"data_offsets\":[0, 0]}}"));
        using var z = SafetensorsFile.Open(path);
        Assert.Equal(new long[] { 2, 0 }, z.Tensors["test"].Shape);
        using var t = z.Read("test");
        Assert.Equal(new long[] { 2, 0 }, t.shape);
    }

    [Fact]
    public void HeaderLayoutFollowsThePythonLibrary()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "x.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["b"] = zeros(3, dtype: float32), ["a"] = zeros(2, dtype: float32), ["ids"] = zeros(2, dtype: int64),
            ["mask"] = zeros(5, dtype: @bool), ["h"] = zeros(1, dtype: bfloat16),
        });
        var (n, _, _) = Ckpt.RawHeader(path);
        Assert.Equal(0, n % 8);
        var text = Encoding.UTF8.GetString(File.ReadAllBytes(path), 8, (int)n);
        // Widest dtype first (I64 > F32 > BF16 > BOOL in the library's dtype order), then by name;
        // no __metadata__ when none is given; compact JSON; space padding.
        Assert.Equal("{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}," +
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}," +
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}," +
                     "\"h\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[36,38]}," +
                     "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[5],\"data_offsets\":[38,43]}}", text.TrimEnd(' '));
        Assert.Matches("^[^ ]*} *$", text);
        Assert.Equal(8 + n + 43, new FileInfo(path).Length);
    }

    [Fact]
    public void NamesAndMetadataAreEscapedLikeSerdeJson()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "x.safetensors");
        const string name = "tête.\"q\"\\k\n\u0001";
        var meta = new Dictionary<string, string> { ["note"] = "漢字 </script> & 'x'", ["empty"] = "" };
        Safetensors.Save(path, [KeyValuePair.Create(name, ones(2))], meta);
        var (n, _, _) = Ckpt.RawHeader(path);
        var text = Encoding.UTF8.GetString(File.ReadAllBytes(path), 8, (int)n).TrimEnd(' ');
        Assert.StartsWith("{\"__metadata__\":{\"note\":\"漢字 </script> & 'x'\",\"empty\":\"\"},\"tête.\\\"q\\\"\\\\k\\n\\u0001\":", text);
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(name, f.Tensors.Keys.Single());
        Assert.Equal(meta, f.Metadata);
    }

    // ------------------------------------------------------------------ round trips

    public static IEnumerable<object[]> AllDTypes() =>
        new[] { "F32", "BF16", "F16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL" }.Select(d => new object[] { d });

    private static readonly Dictionary<string, ScalarType> Types = new()
    {
        ["F32"] = ScalarType.Float32, ["BF16"] = ScalarType.BFloat16, ["F16"] = ScalarType.Float16, ["F64"] = ScalarType.Float64,
        ["I64"] = ScalarType.Int64, ["I32"] = ScalarType.Int32, ["I16"] = ScalarType.Int16, ["I8"] = ScalarType.Int8,
        ["U8"] = ScalarType.Byte, ["BOOL"] = ScalarType.Bool,
    };

    /// <summary>A tensor whose bytes are arbitrary (NaN payloads, -0, infinities, subnormals all appear).</summary>
    private static Tensor RandomBits(ScalarType type, long[] shape, int seed)
    {
        var t = empty(shape, type);
        var bytes = new byte[t.NumberOfElements * t.ElementSize];
        new Random(seed).NextBytes(bytes);
        if (type == ScalarType.Bool) for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        if (bytes.Length > 0) t.bytes = bytes;
        return t;
    }

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void EveryDTypeRoundTripsBitExactly(string dtype)
    {
        var type = Types[dtype];
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, $"{dtype}.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["matrix"] = RandomBits(type, [7, 5], 1),
            ["cube"] = RandomBits(type, [2, 3, 4], 2),
            ["scalar"] = RandomBits(type, [], 3),
            ["empty"] = RandomBits(type, [0, 3], 4),
        };
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        var (_, header, dataStart) = Ckpt.RawHeader(path);
        var raw = File.ReadAllBytes(path);
        using var f = SafetensorsFile.Open(path);
        foreach (var (name, t) in tensors)
        {
            var info = f.Tensors[name];
            Assert.Equal(dtype, info.DType);
            Assert.Equal(dtype, header.GetProperty(name).GetProperty("dtype").GetString());
            Assert.Equal(t.shape, info.Shape);
            using var back = f.Read(name);
            Assert.Equal(type, back.dtype);
            Assert.Equal(t.shape, back.shape);
            Assert.Equal(Ckpt.Bytes(t), Ckpt.Bytes(back));
            // The file holds the tensor's little-endian bytes at its offsets.
            Assert.Equal(Ckpt.Bytes(t), raw.AsSpan((int)(dataStart + info.Begin), (int)info.ByteSize).ToArray());
        }
        var loaded = Safetensors.Load(path);
        Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
        foreach (var (name, t) in loaded) Assert.Equal(Ckpt.Bytes(tensors[name]), Ckpt.Bytes(t));
    }

    [Fact]
    public void NonContiguousTensorsAreWrittenInLogicalOrder()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "t.safetensors");
        using var a = arange(12, dtype: float32).reshape(3, 4);
        using var t = a.t();
        Assert.False(t.is_contiguous());
        Safetensors.Save(path, [KeyValuePair.Create("t", t)]);
        using var back = Safetensors.Load(path)["t"];
        Assert.Equal(new long[] { 4, 3 }, back.shape);
        Assert.True(CheckpointLoaderTests.Same(back, t.contiguous()));
    }

    [Fact]
    public void BFloat16LoadsAsBFloat16AndConvertsLikeShiftingTheBits()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "bf16.safetensors");
        using (var f32 = Safetensors.Load(Ckpt.Qwen3Model)["model.embed_tokens.weight"])
        using (var special = tensor(new float[] { 0f, -0f, 1f, -2.5f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-40f, 3.0e38f }))
        using (var bf = f32.to_type(ScalarType.BFloat16))
        using (var bs = special.to_type(ScalarType.BFloat16))
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = bf, ["special"] = bs });

        var (_, header, dataStart) = Ckpt.RawHeader(path);
        using var file = SafetensorsFile.Open(path);
        using var r = new BinaryReader(File.OpenRead(path));
        foreach (var name in new[] { "w", "special" })
        {
            var info = file.Tensors[name];
            Assert.Equal("BF16", info.DType);
            r.BaseStream.Position = dataStart + header.GetProperty(name).GetProperty("data_offsets")[0].GetInt64();
            var bits = Enumerable.Range(0, (int)info.NumberOfElements).Select(_ => r.ReadUInt16()).ToArray();

            using var asBf = file.Read(name);
            Assert.Equal(ScalarType.BFloat16, asBf.dtype);
            var bfBytes = Ckpt.Bytes(asBf);
            for (int i = 0; i < bits.Length; i++) Assert.Equal(bits[i], BitConverter.ToUInt16(bfBytes, 2 * i));

            using var asF32 = file.Read(name, ScalarType.Float32);
            Assert.Equal(ScalarType.Float32, asF32.dtype);
            var f32Bytes = Ckpt.Bytes(asF32);
            for (int i = 0; i < bits.Length; i++)
            {
                float expected = BitConverter.Int32BitsToSingle(bits[i] << 16);
                float actual = BitConverter.ToSingle(f32Bytes, 4 * i);
                if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual));
                else Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
            }
        }
        var loaded = Safetensors.Load(path, ScalarType.Float32);
        Assert.All(loaded.Values, t => Assert.Equal(ScalarType.Float32, t.dtype));
    }

    [Fact]
    public void Float16ConvertsToFloat32LikeSystemHalf()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "f16.safetensors");
        using (var h = RandomBits(ScalarType.Float16, [1000], 7)) Safetensors.Save(path, [KeyValuePair.Create("h", h)]);
        var (_, _, dataStart) = Ckpt.RawHeader(path);
        using var r = new BinaryReader(File.OpenRead(path));
        r.BaseStream.Position = dataStart;
        using var f = SafetensorsFile.Open(path);
        using var asF32 = f.Read("h", ScalarType.Float32);
        var values = Ckpt.Bytes(asF32);
        for (int i = 0; i < 1000; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(r.ReadUInt16());
            float actual = BitConverter.ToSingle(values, 4 * i);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual));
            else Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void ReadIntoFillsAnExistingTensorInPlaceThroughSmallChunks()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "r.safetensors");
        using var source = RandomBits(ScalarType.BFloat16, [37, 11], 5);
        Safetensors.Save(path, [KeyValuePair.Create("w", source)]);
        using var f = SafetensorsFile.Open(path);
        using var expected = source.to_type(ScalarType.Float32);

        // Same dtype: the bytes land directly in the destination.
        using var same = zeros(37, 11, dtype: bfloat16);
        f.ReadInto("w", same);
        Assert.Equal(Ckpt.Bytes(source), Ckpt.Bytes(same));
        // Converting, 10 bytes (5 elements) at a time, with and without a caller's staging buffer.
        using var f32 = zeros(37, 11);
        f.ReadInto("w", f32, chunkBytes: 10);
        Assert.Equal(Ckpt.Bytes(expected), Ckpt.Bytes(f32));
        using var staging = empty(new long[] { 3 }, dtype: bfloat16);
        using var f32b = zeros(37, 11);
        f.ReadInto("w", f32b, staging: staging);
        Assert.Equal(Ckpt.Bytes(expected), Ckpt.Bytes(f32b));
        // A non-contiguous destination (a transposed view) is filled through a whole temporary.
        using var backing = zeros(11, 37);
        using var view = backing.t();
        f.ReadInto("w", view);
        Assert.Equal(Ckpt.Bytes(expected), Ckpt.Bytes(view));
        // Wrong shape: named.
        using var wrong = zeros(11, 37);
        var e = Assert.Throws<CheckpointException>(() => f.ReadInto("w", wrong));
        NamesTensor(e, "w");
        Assert.Contains("[37, 11]", e.Message);
    }

    [Fact]
    public void SaveReplacesAtomicallyAndLeavesNoTemporaryFiles()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "m.safetensors");
        Safetensors.Save(path, [KeyValuePair.Create("a", ones(4))]);
        var before = File.ReadAllBytes(path);
        // A failing save (complex dtype) leaves the old file as it was, and no temp file behind.
        var e = Assert.Throws<CheckpointException>(() =>
            Safetensors.Save(path, [KeyValuePair.Create("a", ones(4)), KeyValuePair.Create("z", zeros(2, dtype: complex64))]));
        Assert.Contains("'z'", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Safetensors.Save(path, [KeyValuePair.Create("b", zeros(8))]);
        Assert.Equal(new[] { "m.safetensors" }, Directory.GetFiles(dir).Select(Path.GetFileName));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("b", f.Tensors.Keys.Single());
    }

    [Fact]
    public void SaveRejectsBadNames()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "m.safetensors");
        var e = Assert.Throws<CheckpointException>(() => Safetensors.Save(path, [KeyValuePair.Create("__metadata__", ones(1))]));
        Assert.Contains("__metadata__", e.Message);
        e = Assert.Throws<CheckpointException>(() => Safetensors.Save(path, [KeyValuePair.Create("x", ones(1)), KeyValuePair.Create("x", ones(2))]));
        Assert.Contains("'x'", e.Message);
        Assert.False(File.Exists(path));
    }

    // ------------------------------------------------------------------ corrupt and hostile files

    private static CheckpointException OpenFails(string path)
    {
        var e = Assert.Throws<CheckpointException>(() => { using var _ = SafetensorsFile.Open(path); });
        Assert.Contains(path, e.Message);
        Assert.Equal(path, e.FilePath);
        return e;
    }

    private static void NamesTensor(CheckpointException e, string tensor)
    {
        Assert.Contains($"'{tensor}'", e.Message);
        Assert.Equal(tensor, e.TensorName);
    }

    [Fact]
    public void TruncatedDataIsCaughtAtOpenNamingTheTensor()
    {
        var dir = Fixtures.TempDir();
        var bytes = File.ReadAllBytes(Ckpt.Qwen3Model);
        var path = Path.Combine(dir, "cut.safetensors");
        File.WriteAllBytes(path, bytes[..^100]);
        var e = OpenFails(path);
        NamesTensor(e, "model.norm.weight"); // the last tensor in the data section
        Assert.Contains("truncated", e.Message);
        // Cut inside the header.
        File.WriteAllBytes(path, bytes[..1000]);
        Assert.Contains("truncated", OpenFails(path).Message);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("too short", OpenFails(path).Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        var dir = Fixtures.TempDir();
        var path = Ckpt.WriteRaw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4], claimedHeaderLength: 4096);
        Assert.Contains("past the end", OpenFails(path).Message);
        path = Ckpt.WriteRaw(dir, "{}", [], name: "huge.safetensors", claimedHeaderLength: long.MaxValue);
        Assert.Contains("not plausible", OpenFails(path).Message);
        path = Ckpt.WriteRaw(dir, "{}", [], name: "neg.safetensors", claimedHeaderLength: -8);
        Assert.Contains("not plausible", OpenFails(path).Message);
    }

    [Fact]
    public void OverlappingOffsetsNameBothTensors()
    {
        var dir = Fixtures.TempDir();
        var path = Ckpt.WriteRaw(dir,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
            new byte[24]);
        var e = OpenFails(path);
        NamesTensor(e, "b");
        Assert.Contains("'a'", e.Message);
        Assert.Contains("overlap", e.Message);
        // Two tensors on the same bytes.
        path = Ckpt.WriteRaw(dir,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
            new byte[16], name: "same.safetensors");
        Assert.Contains("overlap", OpenFails(path).Message);
        // Empty tensors occupy no bytes and may sit anywhere in range.
        path = Ckpt.WriteRaw(dir,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
            new byte[16], name: "empty.safetensors");
        using var ok = SafetensorsFile.Open(path);
        using var empty = ok.Read("e");
        Assert.Equal(0, empty.NumberOfElements);
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", "needs 16")]            // wrong byte size
    [InlineData("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", "needs 12")]
    [InlineData("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", "unsupported dtype")]  // unknown dtype
    [InlineData("{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,4]}}", "unsupported dtype")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", "negative")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]}}", "not an integer")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", "begin after")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", "not 2")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", "truncated")]          // past the data
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", "overflows")]
    [InlineData("{\"w\":{\"shape\":[4],\"data_offsets\":[0,16]}}", "dtype")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", "shape")]
    [InlineData("{\"w\":[1,2]}", "not an object")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", "twice")]
    public void MalformedEntriesNameTheFileAndTensor(string header, string problem)
    {
        var dir = Fixtures.TempDir();
        var path = Ckpt.WriteRaw(dir, header, new byte[16]);
        var e = OpenFails(path);
        NamesTensor(e, "w");
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",", "JSON")]
    [InlineData("not json at all", "JSON")]
    [InlineData("[1,2,3]", "not an object")]
    [InlineData("{\"__metadata__\":{\"a\":1}}", "not a string")]
    [InlineData("{\"__metadata__\":[\"a\"]}", "__metadata__")]
    public void InvalidHeadersNameTheFile(string header, string problem)
    {
        var dir = Fixtures.TempDir();
        var e = OpenFails(Ckpt.WriteRaw(dir, header, new byte[16]));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void InvalidUtf8HeaderIsRejected()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "utf8.safetensors");
        var header = new byte[] { (byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}' };
        File.WriteAllBytes(path, BitConverter.GetBytes(8L).Concat(header).ToArray());
        Assert.Contains("UTF-8", OpenFails(path).Message);
    }

    [Fact]
    public void BoolBytesOtherThanZeroAndOneAreRejectedOnRead()
    {
        var dir = Fixtures.TempDir();
        var path = Ckpt.WriteRaw(dir, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}}", [0, 1, 2, 0]);
        using var f = SafetensorsFile.Open(path);
        var e = Assert.Throws<CheckpointException>(() => f.Read("m"));
        NamesTensor(e, "m");
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void FileTruncatedAfterOpenFailsOnReadNamingTheTensor()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "m.safetensors");
        File.Copy(Ckpt.Qwen3Model, path);
        using var f = SafetensorsFile.Open(path);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(fs.Length - 200);
        var e = Assert.Throws<CheckpointException>(() => f.Read("model.norm.weight"));
        NamesTensor(e, "model.norm.weight");
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void ReadingAnUnknownTensorNamesIt()
    {
        using var f = SafetensorsFile.Open(Ckpt.Qwen3Model);
        var e = Assert.Throws<CheckpointException>(() => f.Read("lm_head.weight"));
        NamesTensor(e, "lm_head.weight");
    }
}
