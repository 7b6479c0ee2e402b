using System.CommandLine;
using SmVL.Export;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl export --model DIR --format gguf|hf --out DIR ...`: a stitched model folder for other engines.
/// gguf [--type f32|f16] [--quantize q8_0|q4_k_m|...]: text-{type}.gguf (Qwen3, its tokenizer and chat
/// template), mmproj-{type}.gguf (SigLIP + idefics3 connector) and, with --quantize, text-{quant}.gguf
/// quantized by llama.cpp itself. hf [--dtype bf16|f16|f32] [--max-shard-size 2GB]: the folder as
/// transformers' save_pretrained writes it.
/// </summary>
public sealed class ExportVerb : IVerb
{
    public string Name => "export";
    public string Summary => "--model DIR --format gguf|hf --out DIR [gguf: --type f32|f16 --quantize q8_0|q4_k_m|...] [hf: --dtype bf16|f16|f32 --max-shard-size 2GB]";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder (a run's model/)", required: true),
        Opt.Text("format", "gguf: llama.cpp's text model + mmproj; hf: a transformers folder", required: true, "gguf", "hf"),
        Opt.Text("out", "the folder to write into", required: true),
        Opt.Text("type", "gguf: weight type (default f16; norms and embeddings stay f32)", oneOf: ["f32", "f16"]),
        Opt.Text("quantize", "gguf: also write the text model quantized by llama.cpp", oneOf: [.. GgufExport.Quantizations]),
        Opt.Int("threads", "gguf: quantizer threads (default: all cores)", min: 1),
        Opt.Text("dtype", "hf: weight type (default bf16)", oneOf: [.. HfExport.DTypes.Keys]),
        Opt.Text("max-shard-size", "hf: split the weights into shards of at most this size (e.g. 2GB; default one file)"),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelDir = args.Require("model"), outDir = args.Require("out"), format = args.Require("format");
        if (!Directory.Exists(modelDir)) throw new CliException($"model folder not found: {modelDir}");
        var foreign = (format == "gguf" ? new[] { "dtype", "max-shard-size" } : ["type", "quantize", "threads"]).Where(args.Has).ToList();
        if (foreign.Count > 0) throw new CliException($"--{foreign[0]} does not apply to --format {format}");

        if (format == "hf")
        {
            long? shard = null;
            if (args.Get("max-shard-size") is { } size)
            {
                try { shard = HfExport.ParseSize(size); }
                catch (FormatException e) { throw new CliException($"--max-shard-size: {e.Message}"); }
            }
            HfExport.Write(modelDir, outDir, HfExport.DTypes[args.Get("dtype") ?? "bf16"], shard);
            foreach (var file in Directory.GetFiles(outDir).Order()) Console.WriteLine($"{file} ({new FileInfo(file).Length / 1e6:F1} MB)");
            return Task.FromResult(0);
        }

        var type = args.Get("type") == "f32" ? GgmlType.F32 : GgmlType.F16;
        var files = GgufExport.Write(modelDir, outDir, type, args.Get("quantize"), args.Int("threads", 0));
        foreach (var path in new[] { files.Text, files.Projector, files.Quantized }.OfType<string>())
            Console.WriteLine($"{path} ({new FileInfo(path).Length / 1e6:F1} MB)");
        return Task.FromResult(0);
    }
}
