using System.CommandLine;
using System.Diagnostics;
using SmVL.Checkpoints;
using SmVL.Processing;
using TorchSharp;

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

        using (var pixels = torch.tensor(result.PixelValues, [result.NumImages, 3, result.Height, result.Width]))
        using (var rows = torch.tensor(new long[] { result.Rows }))
        using (var cols = torch.tensor(new long[] { result.Cols }))
            Safetensors.Save(outPath, [new("pixel_values", pixels), new("rows", rows), new("cols", cols)], new Dictionary<string, string> { ["format"] = "pt" });
        Console.WriteLine($"{imagePath}: {image.Width}x{image.Height} {image.Mode} -> pixel_values [{result.NumImages},3,{result.Height},{result.Width}], rows {result.Rows}, cols {result.Cols} -> {outPath}");
        Console.WriteLine(repeat == 1
            ? $"process: {times[0]:F0} ms (first call, includes JIT)"
            : $"process: first {times[0]:F0} ms, best of {repeat} {times.Min():F0} ms, median {times.Order().ElementAt(repeat / 2):F0} ms");
        return Task.FromResult(0);
    }
}
