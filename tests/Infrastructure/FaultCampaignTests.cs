using System.Diagnostics;
using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Processing;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Infrastructure;

/// <summary>
/// Bad input never crashes, hangs or exhausts the process: seeded random damage to safetensors
/// files and images, oversized images and hostile chat templates must each end in the reader's
/// own clean error (or, for harmless damage, a normal result) within a bound. Each test prints a
/// report (tried / clean error / accepted / crash / hang) and fails on any crash or hang.
/// </summary>
public class FaultCampaignTests(ITestOutputHelper log)
{
    private sealed record Tally(string Name)
    {
        public int Tried, Clean, Accepted, Crash, Hang;
        public List<string> Crashes { get; } = new();
        public override string ToString() => $"{Name}: tried {Tried}, clean error {Clean}, accepted {Accepted}, crash {Crash}, hang {Hang}";
    }

    /// <summary>Runs <paramref name="attempt"/>; an exception of type <typeparamref name="TClean"/> is a clean error, anything else a crash.</summary>
    private static void Try<TClean>(Tally t, string label, Action attempt, TimeSpan bound) where TClean : Exception
    {
        t.Tried++;
        var clock = Stopwatch.StartNew();
        try { attempt(); t.Accepted++; }
        catch (TClean) { t.Clean++; }
        catch (Exception e) { t.Crash++; if (t.Crashes.Count < 10) t.Crashes.Add($"{label}: {e.GetType().Name}: {e.Message}"); }
        if (clock.Elapsed > bound) t.Hang++;
    }

    private void Report(Tally t)
    {
        log.WriteLine(t.ToString());
        foreach (var c in t.Crashes) log.WriteLine("  " + c);
        Assert.True(t.Crash == 0 && t.Hang == 0, t + "\n" + string.Join("\n", t.Crashes));
        Assert.True(t.Clean > 0, $"{t.Name}: no attempt failed, so nothing was damaged");
    }

    [Fact]
    public void DamagedSafetensorsFilesFailCleanly()
    {
        byte[] original = File.ReadAllBytes(Fixtures.ParityA("qwen3", "model.safetensors"));
        long headerLength = BitConverter.ToInt64(original, 0);
        var rng = new Random(17);
        var t = new Tally("safetensors");
        string path = Path.Combine(Fixtures.TempDir(), "model.safetensors");
        for (int i = 0; i < 600; i++)
        {
            byte[] b = (byte[])original.Clone();
            switch (i % 6)
            {
                case 0: b[8 + rng.Next((int)headerLength)] = (byte)rng.Next(256); break;                              // a header byte
                case 1: b = b[..rng.Next(b.Length)]; break;                                                             // truncated anywhere
                case 2: BitConverter.GetBytes(rng.NextInt64(-5, long.MaxValue)).CopyTo(b, 0); break;                 // a wild header length
                case 3: for (int k = 0; k < 8; k++) b[8 + rng.Next((int)headerLength)] ^= (byte)(1 << rng.Next(8)); break;  // bit flips in the header
                case 4: b[8 + headerLength + rng.Next(b.Length - 8 - (int)headerLength)] ^= 0xFF; break;           // a body byte (still a valid file)
                default: b = b.Concat(new byte[rng.Next(1, 64)]).ToArray(); break;                                      // trailing garbage
            }
            File.WriteAllBytes(path, b);
            Try<CheckpointException>(t, $"case {i}", () => { foreach (var x in Safetensors.Load(path).Values) x.Dispose(); }, TimeSpan.FromSeconds(5));
        }
        Report(t);
    }

    [Fact]
    public void DamagedAndOversizedImagesFailCleanly()
    {
        string dir = Fixtures.Dir("images", "differential");
        var sources = new[] { "*.png", "*.jpg", "*.webp", "*.gif", "*.bmp" }
            .Select(p => Directory.GetFiles(dir, p).Order(StringComparer.Ordinal).First()).ToList();
        var rng = new Random(23);
        var t = new Tally("images");
        foreach (var file in sources)
        {
            byte[] original = File.ReadAllBytes(file);
            for (int i = 0; i < 60; i++)
            {
                byte[] b = (byte[])original.Clone();
                if (i % 2 == 0) b = b[..rng.Next(1, b.Length)];                                                  // truncated
                else for (int k = 0; k < 1 + i % 7; k++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));   // bit flips
                Try<ImageDecodeException>(t, $"{Path.GetFileName(file)} #{i}", () => ImageCodec.Decode(b, file), TimeSpan.FromSeconds(5));
            }
        }
        // Headers that claim a huge image: refused from the header, before any pixel is decoded.
        foreach (var (name, bytes) in new[] { ("png", HugePng()), ("gif", HugeGif()) })
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<ImageDecodeException>(() => ImageCodec.Decode(bytes, "huge." + name));
            Assert.Contains("pixel limit", e.Message);
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 50_000_000, $"huge {name}: allocated before refusing");
            t.Tried++; t.Clean++;
        }
        Report(t);
    }

    [Theory]
    [InlineData("{% for i in range(100000000) %}x{% endfor %}")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")]
    [InlineData("{{ 'x' * 100000000 }}{{ 'y' * 100000000 }}")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}")]
    public void HostileTemplatesStopWithAMessageWithinSeconds(string template)
    {
        string path = Path.Combine(Fixtures.TempDir(), "hostile.jinja");
        File.WriteAllText(path, template);
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsAny<Exception>(() => ChatTemplate.FromFile(path).Render(new JsonObject { ["messages"] = new JsonArray() }));
        log.WriteLine($"{clock.Elapsed.TotalSeconds:F2} s: {e.GetType().Name}: {e.Message}");
        Assert.True(e is InvalidOperationException or FormatException, $"{e.GetType().Name}: {e.Message}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed.TotalSeconds:F1} s");
    }

    // A real PNG whose IHDR (CRC fixed) claims 15,000 x 15,000 pixels: 225 million (stb itself refuses only above 2^30 bytes).
    private static byte[] HugePng()
    {
        byte[] b = File.ReadAllBytes(Fixtures.Dir("images", "differential", "003_rgba_png_2x1_noresize16.png"));
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), 15_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), 15_000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), Crc32(b[12..29]));
        return b;
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    // GIF89a with a logical screen of 65,535 x 65,535 and an image of the same size.
    private static byte[] HugeGif() =>
    [
        .."GIF89a"u8, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00,
        0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ];
}
