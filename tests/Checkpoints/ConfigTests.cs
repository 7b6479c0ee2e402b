using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using Xunit;

namespace SmVL.Tests.Checkpoints;

public class ConfigTests
{
    [Theory]
    [InlineData("qwen3")]
    [InlineData("smolvlm")]
    public void ConfigJsonRoundTripsEveryKey(string folder)
    {
        var path = Fixtures.ParityA(folder, "config.json");
        var original = JsonNode.Parse(File.ReadAllText(path))!;
        string written = folder == "qwen3" ? HfConfig.Load<TextConfig>(path).ToJson() : HfConfig.Load<SmolVLMConfig>(path).ToJson();
        var back = JsonNode.Parse(written)!;
        // Nulls HF writes for unset options are dropped on write; every other key and value survives.
        Assert.True(JsonNode.DeepEquals(WithoutNulls(original), WithoutNulls(back)), written);
    }

    private static JsonNode? WithoutNulls(JsonNode? n) => n switch
    {
        JsonObject o => new JsonObject(o.Where(kv => kv.Value is not null).Select(kv => KeyValuePair.Create(kv.Key, WithoutNulls(kv.Value)))),
        JsonArray a => new JsonArray(a.Select(WithoutNulls).ToArray()),
        null => null,
        _ => n.DeepClone(),
    };

    [Fact]
    public void RealSmolVLMConfigFillsOmittedVisionFieldsFromClassDefaults()
    {
        // The real SmolVLM2 vision_config states only these four; the rest are SmolVLMVisionConfig defaults.
        var c = HfConfig.Parse<SmolVLMConfig>("""
            {"model_type":"smolvlm","scale_factor":4,"image_token_id":49190,
             "vision_config":{"hidden_size":768,"image_size":512,"patch_size":16,"num_attention_heads":12},
             "text_config":{"model_type":"llama","hidden_size":576,"num_attention_heads":9,"num_key_value_heads":3}}
            """);
        Assert.Equal(3072, c.VisionConfig.IntermediateSize);
        Assert.Equal(12, c.VisionConfig.NumHiddenLayers);
        Assert.Equal(1e-6, c.VisionConfig.LayerNormEps);
        Assert.Equal("gelu_pytorch_tanh", c.VisionConfig.HiddenAct);
        Assert.Equal(64, c.ImageSeqLen);
        Assert.Equal(12288, c.ConnectorInputSize);
        Assert.False(c.TextConfig.UsesQkNorm);
        Assert.Equal(64, c.TextConfig.HeadDim);
        Assert.False(c.HeadTied);   // HF's class default for the outer flag is false
    }

    [Fact]
    public void RopeThetaComesFromEitherPlace()
    {
        Assert.Equal(1e6, HfConfig.Parse<TextConfig>("""{"rope_theta":1000000}""").RopeTheta);
        Assert.Equal(5e5, HfConfig.Parse<TextConfig>("""{"rope_theta":1000000,"rope_parameters":{"rope_theta":500000,"rope_type":"default"}}""").RopeTheta);
        Assert.Equal(new[] { 151645, 151643 }, HfConfig.Parse<TextConfig>("""{"eos_token_id":[151645,151643]}""").EosTokenIds);
    }
}
