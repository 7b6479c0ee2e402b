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
/// <param name="TokensPerSecond">llama.cpp's best decode of the rounds</param>
/// <param name="SmvlTokensPerSecond">SmVL's best decode of the same rounds, each run right after llama.cpp's</param>
/// <param name="SmvlRatio">SmVL's decode tokens/s ÷ llama.cpp's, best against best</param>
public sealed record PeerResult(string Type, long FileBytes, long Context, int Tokens, double PrefillTokensPerSecond,
                                double TokensPerSecond, int TokensEqual, double SmvlTokensPerSecond, double SmvlRatio);

/// <summary>
/// The peer a CPU user would pick instead: the bench's model exported to GGUF (f32, f16, and
/// quantized by llama.cpp's own quantizer), decoded by llama.cpp (LLamaSharp) with the same prompt,
/// the same threads and the same number of tokens as SmVL's decode, timed the same way: a token
/// arrives when its step ends, the first after the prompt's prefill. llama.cpp runs with its own
/// defaults (f16 KV cache, flash attention), as a user would. A shared machine's speed moves between
/// minutes, so the two decoders alternate for <c>rounds</c> rounds (llama.cpp, then SmVL again through
/// <c>smvlAgain</c>) and the ratio is best against best.
/// </summary>
public static class LlamaCppPeer
{
    public static IReadOnlyList<PeerResult> Run(SmolVLMForConditionalGeneration model, DecodeResult smvl, IReadOnlyList<string> types,
                                                int threads, string workDir, Func<DecodeResult>? smvlAgain = null, int rounds = 1)
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
            results.Add(Decode(type, path, smvl, threads, smvlAgain, rounds));
        }
        return results;
    }

    private static PeerResult Decode(string type, string path, DecodeResult smvl, int threads, Func<DecodeResult>? smvlAgain, int rounds)
    {
        using var llama = LlamaCppGenerator.Load(path, threads: threads, contextSize: (uint)(smvl.Prompt.Length + smvl.Generated.Length + 8),
                                                 float32Attention: false);
        double best = 0, prefill = 0, smvlBest = smvl.KvTokensPerSecond;
        int tokensTimed = 0, equal = 0;
        for (int round = 0; round < Math.Max(1, rounds); round++)
        {
            if (round > 0 && smvlAgain is not null) smvlBest = Math.Max(smvlBest, smvlAgain().KvTokensPerSecond);
            var arrivals = new List<long>();
            var start = Stopwatch.GetTimestamp();
            var (tokens, _) = llama.Generate(smvl.Prompt, smvl.Generated.Length, onToken: _ => arrivals.Add(Stopwatch.GetTimestamp()));
            double tokensPerSecond = (arrivals.Count - 1) / Stopwatch.GetElapsedTime(arrivals[0], arrivals[^1]).TotalSeconds;
            if (tokensPerSecond <= best) continue;
            (best, tokensTimed) = (tokensPerSecond, arrivals.Count - 1);
            prefill = smvl.Prompt.Length / Stopwatch.GetElapsedTime(start, arrivals[0]).TotalSeconds;
            equal = tokens.Zip(smvl.Generated).TakeWhile(p => p.First == p.Second).Count();
        }
        return new PeerResult(type, new FileInfo(path).Length, smvl.Context, tokensTimed, prefill, best, equal, smvlBest, smvlBest / best);
    }
}
