using LLama;
using SmVL.Checkpoints;

namespace SmVL.Export;

/// <summary>The files one GGUF export wrote: the text model (quantized when asked) and the mmproj.</summary>
public sealed record GgufFiles(string Text, string Projector, string? Quantized);

/// <summary>
/// A stitched model folder as llama.cpp runs it: <c>text-{type}.gguf</c> (Qwen3 with its tokenizer
/// and chat template), <c>mmproj-{type}.gguf</c> (SigLIP + idefics3 connector) and, when asked,
/// <c>text-{quant}.gguf</c> made from the text file by llama.cpp's own quantizer
/// (<c>llama_model_quantize</c> through LLamaSharp). The mmproj is not quantized: llama.cpp's
/// quantizer takes text architectures only.
/// </summary>
public static class GgufExport
{
    /// <summary>llama.cpp's quantization type names the export accepts (llama-quantize spells them so).</summary>
    public static readonly IReadOnlyList<string> Quantizations = ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0"];

    public static GgufFiles Write(string modelDir, string outDir, GgmlType type, string? quantize = null, int threads = 0)
    {
        if (quantize is not null && !Quantizations.Contains(quantize))
            throw new ArgumentException($"unknown quantization '{quantize}' (known: {string.Join(", ", Quantizations)})");
        var config = HfConfig.Load<SmolVLMConfig>(modelDir);
        string suffix = type == GgmlType.F32 ? "f32" : "f16";
        var files = new GgufFiles(Path.Combine(outDir, $"text-{suffix}.gguf"), Path.Combine(outDir, $"mmproj-{suffix}.gguf"),
                                  quantize is null ? null : Path.Combine(outDir, $"text-{quantize}.gguf"));
        using (var tensors = new CheckpointTensors(modelDir))
        {
            GgufTextModel.Build(modelDir, config, tensors, type).Write(files.Text);
            GgufVisionProjector.Build(modelDir, config, tensors, type).Write(files.Projector);
        }
        if (files.Quantized is { } quantized) Quantize(files.Text, quantized, quantize!, threads);
        return files;
    }

    /// <summary>The text model alone (what text-only decoding reads).</summary>
    public static void WriteText(string modelDir, string path, GgmlType type)
    {
        using var tensors = new CheckpointTensors(modelDir);
        GgufTextModel.Build(modelDir, HfConfig.Load<SmolVLMConfig>(modelDir), tensors, type).Write(path);
    }

    /// <summary>llama.cpp's quantizer over a text GGUF (tensors whose rows do not fit the type's blocks fall back as llama-quantize does).</summary>
    public static void Quantize(string source, string destination, string quantization, int threads = 0)
    {
        LlamaCpp.Start();
        if (!LLamaQuantizer.Quantize(source, destination, quantization, threads <= 0 ? Environment.ProcessorCount : threads))
            throw new IOException($"llama.cpp could not quantize {source} to {quantization}: {LlamaCpp.LastProblem ?? "no reason given"}");
    }
}
