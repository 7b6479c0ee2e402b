using SmVL.Benchmarks;
using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Stitching;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.Benchmarks;

/// <summary>The bench's llama.cpp peer on a small model with Qwen3's real vocabulary: it exports, llama.cpp decodes, the numbers are real.</summary>
public class LlamaCppPeerTests(ITestOutputHelper log)
{
    [Fact]
    public void LlamaCppDecodesTheSameModelAndItsFirstTokensAgreeWithSmVL()
    {
        var config = Stitcher.StitchedConfig(
            new SmolVLMConfig
            {
                ScaleFactor = 2,
                VisionConfig = new VisionConfig { HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 2, PatchSize = 8, ImageSize = 32 },
            },
            TextConfig.Qwen3_0_6B with { HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDimOrNull = 16 },
            new TextSide(151655, [151645], 151643));
        using var model = new SmolVLMForConditionalGeneration(config);
        WeightInit.HfNormal(model, seed: 3);
        var smvl = DecodeBench.Run(model, context: 40, tokens: 6, recomputeRepeats: 1, readGbps: 10);
        var dir = Fixtures.TempDir();
        int again = 0;
        DecodeResult Again() { again++; return DecodeBench.Run(model, context: 40, tokens: 6, recomputeRepeats: 0, readGbps: 10); }
        var peers = LlamaCppPeer.Run(model, smvl, ["f32", "f16", "q8_0"], threads: 2, dir, Again, rounds: 2);
        Assert.Equal(3, again);                                   // SmVL again before each type's second round

        Assert.Equal(["f32", "f16", "q8_0"], peers.Select(p => p.Type));
        foreach (var p in peers)
        {
            log.WriteLine($"{p.Type}: {p.TokensPerSecond:F1} tok/s, prefill {p.PrefillTokensPerSecond:F1}, {p.FileBytes} bytes, {p.TokensEqual}/{smvl.Generated.Length} tokens as SmVL's, SmVL {p.SmvlRatio:F2}×");
            Assert.Equal(6, p.Tokens);
            Assert.True(p.TokensPerSecond > 0 && p.PrefillTokensPerSecond > 0);
            Assert.True(p.SmvlTokensPerSecond >= smvl.KvTokensPerSecond);      // best of its rounds, the first included
            Assert.Equal(p.SmvlTokensPerSecond / p.TokensPerSecond, p.SmvlRatio, 9);
        }
        // The f32 file holds SmVL's weights exactly: at least the prefill's greedy token agrees.
        Assert.True(peers[0].TokensEqual >= 1, $"llama.cpp's first f32 token differs from SmVL's ({string.Join(",", smvl.Generated)})");
        Assert.True(peers[0].FileBytes > peers[1].FileBytes && peers[1].FileBytes > peers[2].FileBytes, "f32 > f16 > q8_0 in size");
    }
}
