using SmVL.Checkpoints;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// The full-size architectures, built without allocating weights (meta device): HF tensor names and
/// shapes, and the parameter counts the blog's print-out implies.
/// </summary>
[Collection("DefaultDevice")]
public class ArchitectureTests
{
    private static T OnMeta<T>(Func<T> build)
    {
        set_default_device(META);
        try { return build(); }
        finally { set_default_device(CPU); }
    }

    private static SmolVLMConfig Stitched => new()
    {
        ImageTokenId = 151655, ScaleFactor = 4, TieWordEmbeddings = true,
        VisionConfig = VisionConfig.SmolVLM2_256M, TextConfig = TextConfig.Qwen3_0_6B,
    };

    [Fact]
    public void Qwen3_0_6BHasHFNamesAndCount()
    {
        var lm = OnMeta(() => new Qwen3ForCausalLM(TextConfig.Qwen3_0_6B));
        var shapes = lm.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(596_049_920, shapes.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(1 + 28 * 11 + 1, shapes.Count);   // embed, 11 tensors per layer, final norm; tied head
        Assert.Equal(new long[] { 151936, 1024 }, shapes["model.embed_tokens.weight"]);
        Assert.Equal(new long[] { 2048, 1024 }, shapes["model.layers.27.self_attn.q_proj.weight"]);
        Assert.Equal(new long[] { 1024, 1024 }, shapes["model.layers.0.self_attn.k_proj.weight"]);
        Assert.Equal(new long[] { 1024, 2048 }, shapes["model.layers.0.self_attn.o_proj.weight"]);
        Assert.Equal(new long[] { 128 }, shapes["model.layers.0.self_attn.q_norm.weight"]);
        Assert.Equal(new long[] { 3072, 1024 }, shapes["model.layers.0.mlp.gate_proj.weight"]);
        Assert.DoesNotContain("lm_head.weight", shapes.Keys);
    }

    [Fact]
    public void StitchedModelMatchesTheBlogsCounts()
    {
        var vlm = OnMeta(() => new SmolVLMForConditionalGeneration(Stitched));
        var byModule = vlm.named_parameters().GroupBy(p => p.name.Split('.')[1] == "vision_model" ? "vision" : p.name.Split('.')[1])
            .ToDictionary(g => g.Key, g => g.Sum(p => p.parameter.numel()));
        Assert.Equal(86_433_024, byModule["vision"]);
        Assert.Equal(12_582_912, byModule["connector"]);
        Assert.Equal(596_049_920, byModule["text_model"]);
        Assert.Equal(695_065_856, byModule.Values.Sum());
        var shapes = vlm.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(new long[] { 1024, 12288 }, shapes["model.connector.modality_projection.proj.weight"]);
        Assert.Equal(new long[] { 768, 3, 16, 16 }, shapes["model.vision_model.embeddings.patch_embedding.weight"]);
        Assert.Equal(new long[] { 1024, 768 }, shapes["model.vision_model.embeddings.position_embedding.weight"]);
        Assert.Equal(new long[] { 3072, 768 }, shapes["model.vision_model.encoder.layers.11.mlp.fc1.weight"]);
        Assert.Equal(new long[] { 768 }, shapes["model.vision_model.post_layernorm.bias"]);
        Assert.Equal(64, Stitched.ImageSeqLen);
    }

    [Fact]
    public void SmolVLM2ParentLoadsWholeWithALlamaTextModel()
    {
        var parent = Stitched with { ImageTokenId = 49190, TieWordEmbeddings = false, TextConfig = TextConfig.SmolLM2_135M with { TieWordEmbeddings = false } };
        var vlm = OnMeta(() => new SmolVLMForConditionalGeneration(parent));
        var names = vlm.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("lm_head.weight", names);
        Assert.DoesNotContain("model.text_model.layers.0.self_attn.q_norm.weight", names);
        Assert.Equal(new long[] { 576, 12288 }, vlm.model.connector.modality_projection.proj.weight!.shape);
    }
}
