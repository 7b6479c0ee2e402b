using System.Diagnostics;
using SmVL.Evaluation;
using SmVL.Export;
using SmVL.Generation;
using SmVL.Models;
using SmVL.Processing;
using SmVL.Stitching;

namespace SmVL.Benchmarks;

/// <summary>llama.cpp decoding the bench's model from one GGUF type.</summary>
/// <param name="Type">f32, f16 or a llama.cpp quantization (q8_0, ...)</param>
/// <param name="TokensEqual">leading greedy tokens equal to SmVL's (of Tokens + 1, the prefill's included)</param>
/// <param name="SmvlRatio">SmVL's decode tokens/s ÷ llama.cpp's</param>
public sealed record PeerResult(string Type, long FileBytes, long Context, int Tokens, double PrefillTokensPerSecond,
                                double TokensPerSecond, int TokensEqual, double SmvlRatio);

/// <summary>
/// The peer a CPU user would pick instead: the bench's model exported to GGUF (f32, f16, and
/// quantized by llama.cpp's own quantizer), decoded by llama.cpp (LLamaSharp) with the same prompt,
/// the same threads and the same number of tokens as SmVL's decode, timed the same way: a token
/// arrives when its step ends, the first after the prompt's prefill. llama.cpp runs with its own
/// defaults (f16 KV cache, flash attention), as a user would.
/// </summary>
public static class LlamaCppPeer
{
    public static IReadOnlyList<PeerResult> Run(SmolVLMForConditionalGeneration model, DecodeResult smvl, IReadOnlyList<string> types,
                                                int threads, string workDir)
    {
        string modelDir = Path.Combine(workDir, "model");
        Stitcher.Save(model, modelDir);
        ModelFolder.SaveProcessor(Bench.RealProcessor(model.Config), modelDir);
        var results = new List<PeerResult>();
        string? f32 = null;
        foreach (var type in types)
        {
            string path = Path.Combine(workDir, $"text-{type}.gguf");
            switch (type)
            {
                case "f32": GgufExport.WriteText(modelDir, path, GgmlType.F32); f32 = path; break;
                case "f16": GgufExport.WriteText(modelDir, path, GgmlType.F16); break;
                default:
                    if (f32 is null) { f32 = Path.Combine(workDir, "text-f32.gguf"); GgufExport.WriteText(modelDir, f32, GgmlType.F32); }
                    GgufExport.Quantize(f32, path, type, threads);
                    break;
            }
            results.Add(Decode(type, path, smvl, threads));
        }
        return results;
    }

    private static PeerResult Decode(string type, string path, DecodeResult smvl, int threads)
    {
        using var llama = LlamaCppGenerator.Load(path, threads: threads, contextSize: (uint)(smvl.Prompt.Length + smvl.Generated.Length + 8),
                                                 float32Attention: false);
        var arrivals = new List<long>();
        var start = Stopwatch.GetTimestamp();
        var (tokens, _) = llama.Generate(smvl.Prompt, smvl.Generated.Length, onToken: _ => arrivals.Add(Stopwatch.GetTimestamp()));
        double prefill = Stopwatch.GetElapsedTime(start, arrivals[0]).TotalSeconds;
        double decode = Stopwatch.GetElapsedTime(arrivals[0], arrivals[^1]).TotalSeconds;
        double tokensPerSecond = (arrivals.Count - 1) / decode;
        int equal = tokens.Zip(smvl.Generated).TakeWhile(p => p.First == p.Second).Count();
        return new PeerResult(type, new FileInfo(path).Length, smvl.Context, arrivals.Count - 1, smvl.Prompt.Length / prefill, tokensPerSecond,
                              equal, smvl.KvTokensPerSecond / tokensPerSecond);
    }
}
