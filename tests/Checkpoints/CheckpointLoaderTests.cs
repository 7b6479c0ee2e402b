using System.Text.Json;
using SmVL.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Checkpoints;

/// <summary>A small module: two Linears, a persistent and a non-persistent buffer.</summary>
internal sealed class TinyNet : nn.Module
{
    public Linear fc1, fc2;
    public Tensor running, scratch;

    public TinyNet(int inF = 4, int hidden = 3, int outF = 2) : base(nameof(TinyNet))
    {
        fc1 = nn.Linear(inF, hidden);
        fc2 = nn.Linear(hidden, outF);
        running = zeros(outF);
        scratch = zeros(7);
        register_buffer("scratch", scratch, persistent: false); // RegisterComponents registers the rest
        RegisterComponents();
    }
}

/// <summary>
/// An input embedding and a head that share one weight (a tied LM head). With <c>nativeEmbedding</c>
/// the embedding is TorchSharp's Embedding, whose getter hands out a new Parameter object each time:
/// the two names then hold different Parameter objects over the same storage, which
/// named_parameters lists twice. Otherwise both are Linears holding the very same Parameter object,
/// which named_parameters lists once.
/// </summary>
internal sealed class TiedNet : nn.Module
{
    public nn.Module embed;
    public Linear head;

    public TiedNet(bool nativeEmbedding = false) : base(nameof(TiedNet))
    {
        head = nn.Linear(4, 10, hasBias: false);
        if (nativeEmbedding)
        {
            var e = nn.Embedding(10, 4);
            head.weight = e.weight!;
            embed = e;
        }
        else
        {
            var e = nn.Linear(4, 10, hasBias: false);
            head.weight = e.weight!;
            embed = e;
        }
        RegisterComponents();
    }

    public Tensor EmbedWeight => embed.named_parameters().Single().parameter;
    public Tensor HeadWeight => head.weight!;
    public bool Tied => SmVL.Checkpoints.SafetensorsFormat.IdentityKey(EmbedWeight) == SmVL.Checkpoints.SafetensorsFormat.IdentityKey(HeadWeight);
}

/// <summary>A module with parameters at arbitrary dotted names and shapes (nested modules per dot).</summary>
internal sealed class Bag : nn.Module
{
    public Bag(IEnumerable<(string name, long[] shape)> entries, ScalarType dtype = ScalarType.Float32, double fill = 0) : base(nameof(Bag))
    {
        foreach (var group in entries.GroupBy(e => e.name.Split('.')[0]))
        {
            var leaf = group.SingleOrDefault(e => !e.name.Contains('.'));
            if (leaf.name is not null)
            {
                register_parameter(leaf.name, new Parameter(full(leaf.shape, fill, dtype: dtype)));
                continue;
            }
            register_module(group.Key, new Bag(group.Select(e => (e.name[(group.Key.Length + 1)..], e.shape)), dtype, fill));
        }
    }
}

public class CheckpointLoaderTests
{
    private static Dictionary<string, Tensor> State(nn.Module m) =>
        m.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(m.named_buffers(true, false)).ToDictionary(x => x.Item1, x => x.Item2);

    internal static bool Same(Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && Ckpt.Bytes(a).AsSpan().SequenceEqual(Ckpt.Bytes(b));

    private static void AssertSameValues(nn.Module expected, nn.Module actual)
    {
        var a = State(expected);
        var b = State(actual);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, v) in a) Assert.True(Same(v, b[k]), k);
    }

    private static TinyNet Randomised(int seed)
    {
        manual_seed(seed);
        var net = new TinyNet();
        using (no_grad()) net.running.copy_(randn(2));
        return net;
    }

    // ------------------------------------------------------------------ matching by name

    [Fact]
    public void LoadsParametersAndPersistentBuffersByName()
    {
        var dir = Fixtures.TempDir();
        var source = Randomised(1);
        CheckpointLoader.Save(source, dir);
        using (var f = SafetensorsFile.Open(Path.Combine(dir, CheckpointLoader.SingleFile)))
        {
            Assert.Equal(new[] { "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "running" }, f.Tensors.Keys.Order());
            Assert.Equal("pt", f.Metadata["format"]);
        }
        var target = Randomised(2);
        var fc1 = target.fc1.weight!;
        var report = CheckpointLoader.LoadInto(target, dir);
        AssertSameValues(source, target);
        Assert.Same(fc1, target.fc1.weight); // filled in place, not replaced
        Assert.Equal(5, report.Loaded);
        Assert.Equal((3 * 4 + 3 + 2 * 3 + 2 + 2) * 4, report.Bytes);
        Assert.Empty(report.Ignored);
        Assert.Empty(report.Missing);
    }

    [Fact]
    public void MismatchesAreListedByNameWithShapesAndNothingIsLoaded()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "bad.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["fc1.weight"] = ones(3, 5),             // shape mismatch (model: [3, 4])
            ["fc1.bias"] = ones(3),
            ["fc2.weight"] = ones(2, 3),
            // fc2.bias and running missing
            ["extra.weight"] = ones(5),            // unexpected
        });
        var net = Randomised(3);
        var before = State(net).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(net, path));
        Assert.Contains(path, e.Message);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(e.Message, @"missing[^\n]*\(2\)"), e.Message);
        Assert.Contains("fc2.bias [2]", e.Message);
        Assert.Contains("running [2]", e.Message);
        Assert.Contains("unexpected", e.Message);
        Assert.Contains("extra.weight [5]", e.Message);
        Assert.Contains("shape mismatch", e.Message);
        Assert.Contains("fc1.weight: checkpoint [3, 5]", e.Message);
        Assert.Contains("[3, 4]", e.Message);
        Assert.DoesNotContain("scratch", e.Message); // non-persistent buffers are not expected
        foreach (var (k, v) in State(net)) Assert.True(Same(v, before[k]), $"{k} changed by a failed load");
    }

    [Fact]
    public void NonStrictReportsMissingAndUnexpectedButShapeMismatchStillThrows()
    {
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "partial.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["fc1.weight"] = full(3, 4, 7f), ["junk"] = ones(1) });
        var net = Randomised(4);
        var report = CheckpointLoader.LoadInto(net, path, new LoadOptions { Strict = false });
        Assert.Equal(1, report.Loaded);
        Assert.Equal(7f, net.fc1.weight![0, 0].item<float>());
        Assert.Equal(new[] { "fc1.bias", "fc2.bias", "fc2.weight", "running" }, report.Missing.Select(m => m.Split(' ')[0]).Order());
        Assert.Single(report.Unexpected, u => u.StartsWith("junk "));

        Safetensors.Save(path, new Dictionary<string, Tensor> { ["fc1.weight"] = ones(4, 3) });
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(net, path, new LoadOptions { Strict = false }));
        Assert.Contains("fc1.weight: checkpoint [4, 3]", e.Message);
    }

    [Fact]
    public void IgnoreUnexpectedAcceptsListedKeys()
    {
        var dir = Fixtures.TempDir();
        var source = Randomised(5);
        var path = Path.Combine(dir, "m.safetensors");
        var tensors = State(source);
        tensors["lm_head.weight"] = ones(2, 2);
        Safetensors.Save(path, tensors);
        Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(new TinyNet(), path));
        var net = new TinyNet();
        var report = CheckpointLoader.LoadInto(net, path, new LoadOptions { IgnoreUnexpected = new HashSet<string> { "lm_head.weight" } });
        Assert.Equal(new[] { "lm_head.weight" }, report.Ignored);
        AssertSameValues(source, net);
    }

    [Fact]
    public void PrefixesAndFilterLoadASubModelIntoAStitchedModel()
    {
        // Like Qwen3's `model.layers.0...` into `model.text_model.layers.0...` of a stitched model.
        var dir = Fixtures.TempDir();
        var lm = Safetensors.Load(Ckpt.Qwen3Model);
        var stitchedNames = lm.Select(kv => ("model.text_model." + kv.Key["model.".Length..], kv.Value.shape))
            .Append(("model.vision_model.patch.weight", new long[] { 8, 3 }))
            .Append(("model.connector.proj.weight", new long[] { 64, 12 }));
        var stitched = new Bag(stitchedNames, fill: -1);
        // The LM checkpoint also stores a (tied) head the stitched model keeps elsewhere.
        var lmPath = Path.Combine(dir, "lm.safetensors");
        var withHead = new Dictionary<string, Tensor>(lm) { ["lm_head.weight"] = lm["model.embed_tokens.weight"] };
        Safetensors.Save(lmPath, withHead);

        var report = CheckpointLoader.LoadInto(stitched, lmPath, new LoadOptions
        {
            SourcePrefix = "model.", TargetPrefix = "model.text_model.",
            TargetFilter = n => n.StartsWith("model.text_model."),
        });
        Assert.Equal(lm.Count, report.Loaded);
        Assert.Equal(1, report.OutsidePrefix); // lm_head.weight
        var state = State(stitched);
        foreach (var (k, v) in lm) Assert.True(Same(v, state["model.text_model." + k["model.".Length..]]), k);
        Assert.Equal(-1f, state["model.vision_model.patch.weight"][0, 0].item<float>()); // untouched
        Assert.Equal(-1f, state["model.connector.proj.weight"][0, 0].item<float>());

        // Without the filter the vision and connector weights are missing, by name.
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(stitched, lmPath,
            new LoadOptions { SourcePrefix = "model.", TargetPrefix = "model.text_model." }));
        Assert.Contains("model.vision_model.patch.weight [8, 3]", e.Message);
        Assert.Contains("model.connector.proj.weight [64, 12]", e.Message);
        // With a wrong target prefix every key is unexpected and says what it was matched as.
        e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(stitched, lmPath,
            new LoadOptions { SourcePrefix = "model.", TargetPrefix = "model.text.", TargetFilter = n => n.StartsWith("model.text_model.") }));
        Assert.Contains("model.norm.weight [64] F32 (as 'model.text.norm.weight')", e.Message);
    }

    [Fact]
    public void ParityFixtureLoadsIntoAModuleWithItsNames()
    {
        var entries = new List<(string, long[])>();
        using (var f = SafetensorsFile.Open(Ckpt.Qwen3Model))
            entries.AddRange(f.Tensors.Values.Select(i => (i.Name, i.Shape)));
        var bag = new Bag(entries);
        var report = CheckpointLoader.LoadInto(bag, Ckpt.Fixture("qwen3"));
        Assert.Equal(entries.Count, report.Loaded);
        Assert.Equal(new FileInfo(Ckpt.Qwen3Model).Length - 8 - Ckpt.RawHeader(Ckpt.Qwen3Model).n, report.Bytes);
        var reference = Safetensors.Load(Ckpt.Qwen3Model);
        var state = State(bag);
        foreach (var (k, v) in reference) Assert.True(Same(v, state[k]), k);
    }

    // ------------------------------------------------------------------ tied parameters

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TiedParameterStaysSharedAfterLoadingAndIsSavedOnce(bool nativeEmbedding)
    {
        var dir = Fixtures.TempDir();
        manual_seed(7);
        var source = new TiedNet(nativeEmbedding);
        Assert.True(source.Tied);
        CheckpointLoader.Save(source, dir);
        using (var f = SafetensorsFile.Open(Path.Combine(dir, CheckpointLoader.SingleFile)))
            Assert.Equal(new[] { "embed.weight" }, f.Tensors.Keys); // the tied head is written once, under the first name

        manual_seed(8);
        var target = new TiedNet(nativeEmbedding);
        var headParameter = target.HeadWeight;
        var report = CheckpointLoader.LoadInto(target, dir);
        Assert.Equal(1, report.Loaded);
        Assert.Empty(report.Missing);
        Assert.Same(headParameter, target.HeadWeight);
        Assert.True(target.Tied);
        Assert.True(Same(target.HeadWeight, source.EmbedWeight));
        using (no_grad()) target.EmbedWeight.mul_(2);
        Assert.True(Same(target.HeadWeight, source.EmbedWeight * 2));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AStoredCopyOfATiedHeadIsAcceptedAndTheCanonicalNameWins(bool nativeEmbedding)
    {
        // Real Qwen3-0.6B is tied but still stores lm_head.weight. Here the copy even differs: as in
        // transformers, the embedding (the tensor's first name) is what the tied pair ends up holding.
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, "m.safetensors");
        using var embed = randn(10, 4);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["head.weight"] = zeros(10, 4), ["embed.weight"] = embed });
        var net = new TiedNet(nativeEmbedding);
        var report = CheckpointLoader.LoadInto(net, path);
        Assert.Equal(1, report.Loaded);
        Assert.Equal(new[] { "head.weight" }, report.TiedDuplicates);
        Assert.True(net.Tied);
        Assert.True(Same(net.HeadWeight, embed));

        // A checkpoint that stores only the head's name fills the shared tensor too.
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["head.weight"] = embed });
        var other = new TiedNet(nativeEmbedding);
        Assert.Equal(1, CheckpointLoader.LoadInto(other, path).Loaded);
        Assert.True(Same(other.EmbedWeight, embed));
        Assert.True(other.Tied);
    }

    [Fact]
    public void SaveSkipsNamesAskedFor()
    {
        var dir = Fixtures.TempDir();
        CheckpointLoader.Save(Randomised(9), dir, skip: new HashSet<string> { "running", "fc2.bias" });
        using var f = SafetensorsFile.Open(Path.Combine(dir, CheckpointLoader.SingleFile));
        Assert.Equal(new[] { "fc1.bias", "fc1.weight", "fc2.weight" }, f.Tensors.Keys.Order());
    }

    // ------------------------------------------------------------------ dtypes

    [Fact]
    public void BFloat16CheckpointLoadsIntoAFloat32ModuleExactly()
    {
        var dir = Fixtures.TempDir();
        var source = Randomised(10);
        var bf = State(source).ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.BFloat16));
        var path = Path.Combine(dir, "bf16.safetensors");
        Safetensors.Save(path, bf);
        var net = new TinyNet();
        CheckpointLoader.LoadInto(net, path);
        foreach (var (k, v) in State(net))
        {
            Assert.Equal(ScalarType.Float32, v.dtype);
            var bits = Ckpt.Bytes(bf[k]);
            var values = Ckpt.Bytes(v);
            for (int i = 0; i < bits.Length / 2; i++)
                Assert.Equal(BitConverter.ToUInt16(bits, 2 * i) << 16, BitConverter.ToInt32(values, 4 * i));
        }
    }

    // ------------------------------------------------------------------ shards

    [Fact]
    public void ShardedSaveLoadsLikeTheSingleFile()
    {
        var entries = new List<(string, long[])>();
        using (var f = SafetensorsFile.Open(Ckpt.Qwen3Model)) entries.AddRange(f.Tensors.Values.Select(i => (i.Name, i.Shape)));
        var model = new Bag(entries);
        CheckpointLoader.LoadInto(model, Ckpt.Qwen3Model);

        var single = Fixtures.TempDir();
        var sharded = Fixtures.TempDir();
        CheckpointLoader.Save(model, single);
        CheckpointLoader.Save(model, sharded, maxShardBytes: 100_000);

        var files = CheckpointLoader.FindFiles(sharded);
        Assert.True(files.Count > 3, $"expected several shards, got {files.Count}");
        for (int i = 0; i < files.Count; i++)
            Assert.Equal($"model-{i + 1:D5}-of-{files.Count:D5}.safetensors", Path.GetFileName(files[i]));
        Assert.False(File.Exists(Path.Combine(sharded, CheckpointLoader.SingleFile)));
        // The embedding (131072 bytes) is over the limit: it gets a shard of its own.
        using (var first = SafetensorsFile.Open(files[0])) Assert.Equal(new[] { "model.embed_tokens.weight" }, first.Tensors.Keys);
        foreach (var f in files)
            Assert.True(new FileInfo(f).Length < 100_000 + 4096 || SafetensorsFile.Open(f).Tensors.Count == 1, f);

        // The index, as transformers writes it.
        var indexText = File.ReadAllText(Path.Combine(sharded, CheckpointLoader.IndexFile));
        Assert.StartsWith("{\n  \"metadata\": {\n    \"total_size\": 427520\n  },\n  \"weight_map\": {\n    \"model.embed_tokens.weight\": \"model-00001-of-", indexText);
        Assert.EndsWith("\"\n  }\n}\n", indexText);
        using var index = JsonDocument.Parse(indexText);
        var map = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(entries.Select(e => e.Item1).Order(StringComparer.Ordinal), map.Keys);
        foreach (var (name, file) in map)
        {
            using var f = SafetensorsFile.Open(Path.Combine(sharded, file));
            Assert.Contains(name, f.Tensors.Keys);
        }

        // Union of the shards == the single file == the source; loading either gives the same model.
        var fromSingle = Safetensors.Load(Path.Combine(single, CheckpointLoader.SingleFile));
        var union = files.SelectMany(f => Safetensors.Load(f)).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(fromSingle.Keys.Order(), union.Keys.Order());
        foreach (var (k, v) in fromSingle) Assert.Equal(Ckpt.Bytes(v), Ckpt.Bytes(union[k]));
        var a = new Bag(entries, fill: 3);
        var b = new Bag(entries, fill: 4);
        Assert.Equal(entries.Count, CheckpointLoader.LoadInto(a, single).Loaded);
        Assert.Equal(entries.Count, CheckpointLoader.LoadInto(b, sharded).Loaded);
        AssertSameValues(a, b);
        AssertSameValues(model, b);
        // The index file itself can be given too.
        Assert.Equal(files, CheckpointLoader.FindFiles(Path.Combine(sharded, CheckpointLoader.IndexFile)));

        // Saving again unsharded replaces the shards.
        CheckpointLoader.Save(model, sharded);
        Assert.Equal(new[] { CheckpointLoader.SingleFile }, Directory.GetFiles(sharded).Select(Path.GetFileName));
    }

    [Fact]
    public void FindFilesExplainsWhatIsMissing()
    {
        var dir = Fixtures.TempDir();
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(dir));
        Assert.Contains(dir, e.Message);
        Assert.Contains(CheckpointLoader.SingleFile, e.Message);
        Assert.Contains(CheckpointLoader.IndexFile, e.Message);
        Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(Path.Combine(dir, "nope")));
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(Path.Combine(dir, "config.json")));
        Assert.Equal(new[] { Ckpt.Qwen3Model }, CheckpointLoader.FindFiles(Ckpt.Qwen3Model));
        Assert.Equal(new[] { Path.Combine(Ckpt.Fixture("qwen3"), CheckpointLoader.SingleFile) }, CheckpointLoader.FindFiles(Ckpt.Fixture("qwen3")));
    }

    [Fact]
    public void BrokenIndexesAreRejected()
    {
        var dir = Fixtures.TempDir();
        var net = Randomised(11);
        CheckpointLoader.Save(net, dir, maxShardBytes: 40);
        var indexPath = Path.Combine(dir, CheckpointLoader.IndexFile);
        var good = File.ReadAllText(indexPath);
        Assert.Equal(5, CheckpointLoader.LoadInto(new TinyNet(), dir).Loaded);

        // A shard that is gone.
        File.WriteAllText(indexPath, good.Replace("-00001-of-", "-00009-of-"));
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(dir));
        Assert.Contains("model-00009-of-", e.Message);
        // A shard outside the folder.
        File.WriteAllText(indexPath, good.Replace("\"model-00001-of-", "\"../model-00001-of-"));
        e = Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(dir));
        Assert.Contains("plain file name", e.Message);
        // A key placed in the wrong shard.
        var (map, _) = (JsonDocument.Parse(good).RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), 0);
        var wrong = CheckpointLoader.IndexJson(0, map.Select(kv => (kv.Key, kv.Key == "fc1.weight" ? map["fc2.weight"] : kv.Value)));
        File.WriteAllText(indexPath, wrong);
        e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(new TinyNet(), dir));
        Assert.Contains("'fc1.weight'", e.Message);
        Assert.Contains(indexPath, e.Message);
        // Not JSON.
        File.WriteAllText(indexPath, "{ nope");
        e = Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(dir));
        Assert.Contains(indexPath, e.Message);
    }

    [Fact]
    public void TheSameKeyInTwoShardsIsAnError()
    {
        var dir = Fixtures.TempDir();
        Safetensors.Save(Path.Combine(dir, "model-00001-of-00002.safetensors"), new Dictionary<string, Tensor> { ["fc1.weight"] = ones(3, 4), ["fc1.bias"] = ones(3) });
        Safetensors.Save(Path.Combine(dir, "model-00002-of-00002.safetensors"), new Dictionary<string, Tensor> { ["fc1.weight"] = ones(3, 4) });
        File.WriteAllText(Path.Combine(dir, CheckpointLoader.IndexFile), CheckpointLoader.IndexJson(0, [("fc1.weight", "model-00002-of-00002.safetensors"), ("fc1.bias", "model-00001-of-00002.safetensors")]));
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.LoadInto(new TinyNet(), dir, new LoadOptions { Strict = false }));
        Assert.True(e.Message.Contains("'fc1.weight'"), e.Message);
        Assert.Contains("also stored in", e.Message);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CheckpointMemoryCollection
{
    public const string Name = "checkpoint memory (runs alone)";
}

/// <summary>
/// Peak resident memory while loading: the model plus one tensor, never a second full copy. Runs
/// alone (no parallel test allocating at the same time) and measures the kernel's own peak (VmHWM,
/// reset through /proc/self/clear_refs; a sampling thread where that is not allowed).
/// </summary>
[Collection(CheckpointMemoryCollection.Name)]
public class CheckpointMemoryTests(ITestOutputHelper output)
{
    private sealed class PeakMeter : IDisposable
    {
        private readonly bool _hwm;
        private readonly long _baseline;
        private long _sampledPeak;
        private readonly Thread? _sampler;
        private volatile bool _stop;

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
        private static extern int MallocTrim(nuint pad);

        public PeakMeter()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            // Hand memory that earlier tests freed back to the kernel, so the baseline is live memory
            // and a new allocation cannot hide in pages glibc kept (which would under-count a copy).
            try { MallocTrim(0); } catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
            try { File.WriteAllText("/proc/self/clear_refs", "5"); _hwm = true; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _hwm = false; }
            _baseline = Status("VmRSS");
            if (!_hwm)
            {
                _sampledPeak = _baseline;
                _sampler = new Thread(() => { while (!_stop) { _sampledPeak = Math.Max(_sampledPeak, Status("VmRSS")); Thread.Sleep(1); } }) { IsBackground = true };
                _sampler.Start();
            }
        }

        public string Mode => _hwm ? "VmHWM" : "sampled VmRSS";
        public long PeakDelta => (_hwm ? Status("VmHWM") : Math.Max(_sampledPeak, Status("VmRSS"))) - _baseline;

        public void Dispose() { _stop = true; _sampler?.Join(); }

        public static long Status(string field)
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(field + ":"))
                    return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
            throw new InvalidOperationException($"no {field} in /proc/self/status");
        }
    }

    [Fact]
    public void LoadingABFloat16CheckpointIntoAFloat32ModuleNeedsNoSecondCopy()
    {
        if (!File.Exists("/proc/self/status")) { output.WriteLine("no /proc: skipped"); return; }
        const int count = 8;
        long[] shape = [2048, 6144];   // 8 × 12.6 M elements: 201 MB in bf16, 403 MB in f32
        var names = Enumerable.Range(0, count).Select(i => ($"layers.{i}.weight", shape)).ToList();
        var dir = Fixtures.TempDir();
        var path = Path.Combine(dir, CheckpointLoader.SingleFile);
        try
        {
            var tensors = new Dictionary<string, Tensor>();
            manual_seed(0);
            foreach (var (name, _) in names)
                using (var r = randn(shape)) tensors[name] = r.to_type(ScalarType.BFloat16);
            Safetensors.Save(path, tensors);
            foreach (var t in tensors.Values) t.Dispose();
            long checkpointBytes = count * shape[0] * shape[1] * 2;

            var model = new Bag(names, fill: 1); // every page of the model is touched before measuring
            long modelBytes = 2 * checkpointBytes;

            long loadDelta;
            using (var meter = new PeakMeter())
            {
                var report = CheckpointLoader.LoadInto(model, dir);
                Assert.Equal(count, report.Loaded);
                Assert.Equal(checkpointBytes, report.Bytes);
                loadDelta = meter.PeakDelta;
                output.WriteLine($"{meter.Mode}: LoadInto peak +{loadDelta >> 20} MiB (checkpoint {checkpointBytes >> 20} MiB, model {modelBytes >> 20} MiB)");
            }
            var w = model.named_parameters().First().parameter;
            Assert.Equal(ScalarType.Float32, w.dtype);
            Assert.NotEqual(1f, w[0, 0].item<float>());

            // The meter sees a second copy when there is one: loading the whole file at once does.
            long allDelta;
            using (var meter = new PeakMeter())
            {
                var all = Safetensors.Load(path);
                allDelta = meter.PeakDelta;
                foreach (var t in all.Values) t.Dispose();
                output.WriteLine($"{meter.Mode}: Safetensors.Load (whole file) peak +{allDelta >> 20} MiB");
            }
            Assert.True(allDelta > 0.8 * checkpointBytes, $"the meter should see a full copy: +{allDelta >> 20} MiB");
            // One tensor is 25 MB; a second full copy would be ≥ 201 MB (bf16) or 403 MB (f32).
            Assert.True(loadDelta < 0.4 * checkpointBytes, $"LoadInto peak grew by {loadDelta >> 20} MiB for a {checkpointBytes >> 20} MiB checkpoint");
            model.Dispose();
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
