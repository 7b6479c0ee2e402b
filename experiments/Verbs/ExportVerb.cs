using System.CommandLine;
using SmVL.Export;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl export --model DIR --format gguf --out DIR [--type f32|f16] [--quantize q8_0|q4_k_m|...]`: a stitched
/// model folder as llama.cpp runs it — text-{type}.gguf (Qwen3, its tokenizer and chat template),
/// mmproj-{type}.gguf (SigLIP + idefics3 connector) and, with --quantize, text-{quant}.gguf quantized by
/// llama.cpp itself. Then: `llama-mtmd-cli -m text-f16.gguf --mmproj mmproj-f16.gguf --image ...`.
/// </summary>
public sealed class ExportVerb : IVerb
{
    public string Name => "export";
    public string Summary => "--model DIR --format gguf --out DIR [--type f32|f16] [--quantize q8_0|q4_k_m|...]: files llama.cpp runs";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "a trained model folder (a run's model/)", required: true),
        Opt.Text("format", "what to write", required: true, "gguf"),
        Opt.Text("out", "the folder to write into", required: true),
        Opt.Text("type", "weight type of the GGUF files (default f16; norms and embeddings of the mmproj stay f32)", oneOf: ["f32", "f16"]),
        Opt.Text("quantize", "also write the text model quantized by llama.cpp", oneOf: [.. GgufExport.Quantizations]),
        Opt.Int("threads", "quantizer threads (default: all cores)", min: 1),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string modelDir = args.Require("model"), outDir = args.Require("out");
        if (!Directory.Exists(modelDir)) throw new CliException($"model folder not found: {modelDir}");
        var type = args.Get("type") == "f32" ? GgmlType.F32 : GgmlType.F16;
        var files = GgufExport.Write(modelDir, outDir, type, args.Get("quantize"), args.Int("threads", 0));
        foreach (var path in new[] { files.Text, files.Projector, files.Quantized }.OfType<string>())
            Console.WriteLine($"{path} ({new FileInfo(path).Length / 1e6:F1} MB)");
        return Task.FromResult(0);
    }
}
