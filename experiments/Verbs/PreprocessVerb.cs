using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using SmVL.Processing;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl preprocess`: SmolVLM's image processor on one image, written as safetensors
/// (pixel_values float32 [N,3,H,W], rows and cols int64 [1]) for comparison with transformers.
/// </summary>
public sealed class PreprocessVerb : IVerb
{
    public string Name => "preprocess";
    public string Summary => "run the SmolVLM image processor: --processor-config FILE --image FILE --out FILE.safetensors [--repeat N (timing)]";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("processor-config", "preprocessor_config.json", required: true),
        Opt.Text("image", "an image file", required: true),
        Opt.Text("out", "output .safetensors (pixel_values, rows, cols)", required: true),
        Opt.Int("repeat", "process the image this many times and report timings", min: 1),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string configPath = args.Require("processor-config");
        string imagePath = args.Require("image");
        string outPath = args.Require("out");

        ImageProcessorConfig config;
        DecodedImage image;
        // Unreadable configs and images fail the verb with a message naming the file, never a crash.
        try { config = ImageProcessorConfig.Load(configPath); }
        catch (Exception e) when (e is IOException or FormatException) { throw new CliException(e.Message); }
        try { image = ImageCodec.LoadRaw(imagePath); }
        catch (Exception e) when (e is IOException or ImageDecodeException) { throw new CliException(e.Message); }
        ImageProcessor processor;
        try { processor = new ImageProcessor(config); }
        catch (NotSupportedException e) { throw new CliException($"{configPath}: {e.Message}"); }
        int repeat = args.Int("repeat", 1);
        ProcessedImage result = null!;
        var times = new List<double>();
        for (int i = 0; i < repeat; i++)
        {
            var sw = Stopwatch.StartNew();
            result = processor.Process(image);
            times.Add(sw.Elapsed.TotalMilliseconds);
        }

        SafetensorsOut.Write(outPath,
            ("pixel_values", "F32", [result.NumImages, 3, result.Height, result.Width], MemoryMarshal.AsBytes(result.PixelValues.AsSpan()).ToArray()),
            ("rows", "I64", [1], BitConverter.GetBytes((long)result.Rows)),
            ("cols", "I64", [1], BitConverter.GetBytes((long)result.Cols)));
        Console.WriteLine($"{imagePath}: {image.Width}x{image.Height} {image.Mode} -> pixel_values [{result.NumImages},3,{result.Height},{result.Width}], rows {result.Rows}, cols {result.Cols} -> {outPath}");
        Console.WriteLine(repeat == 1
            ? $"process: {times[0]:F0} ms (first call, includes JIT)"
            : $"process: first {times[0]:F0} ms, best of {repeat} {times.Min():F0} ms, median {times.Order().ElementAt(repeat / 2):F0} ms");
        return Task.FromResult(0);
    }

    /// <summary>
    /// The few lines of safetensors this verb needs: u64 LE header length, JSON header
    /// {name: {dtype, shape, data_offsets}} padded with spaces to a multiple of 8, then the raw data.
    /// </summary>
    private static class SafetensorsOut
    {
        public static void Write(string path, params (string Name, string DType, long[] Shape, byte[] Data)[] tensors)
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
            var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
            long offset = 0;
            foreach (var (name, dtype, shape, data) in tensors)
            {
                header[name] = new JsonObject
                {
                    ["dtype"] = dtype,
                    ["shape"] = new JsonArray(shape.Select(d => (JsonNode?)d).ToArray()),
                    ["data_offsets"] = new JsonArray(offset, offset + data.Length),
                };
                offset += data.Length;
            }
            var json = Encoding.UTF8.GetBytes(header.ToJsonString());
            int padded = (json.Length + 7) / 8 * 8;
            using var f = File.Create(path);
            f.Write(BitConverter.GetBytes((ulong)padded));
            f.Write(json);
            f.Write(Enumerable.Repeat((byte)' ', padded - json.Length).ToArray());
            foreach (var t in tensors) f.Write(t.Data);
        }
    }
}
