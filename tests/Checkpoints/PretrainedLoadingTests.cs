using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Checkpoints;

public class PretrainedLoadingTests
{
    private static TextConfig TinyConfig(bool tied) =>
        HfConfig.Load<TextConfig>(Fixtures.ParityA("qwen3")) with { TieWordEmbeddings = tied };

    [Fact]
    public void TiedHeadSharesOneParameterAndAcceptsAStoredHead()
    {
        // Set A stores no lm_head; real Qwen3-0.6B stores one although tied: write such a copy.
        var dir = Fixtures.TempDir();
        File.Copy(Fixtures.ParityA("qwen3", "config.json"), Path.Combine(dir, "config.json"));
        var tensors = Safetensors.Load(Fixtures.ParityA("qwen3", "model.safetensors"));
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].clone();
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        var lm = Pretrained.LoadCausalLM(dir);
        Assert.Null(lm.lm_head);
        Assert.DoesNotContain(lm.state_dict().Keys, k => k.StartsWith("lm_head"));
        // Changing the embedding changes the head: one tensor, not a copy.
        using (no_grad()) lm.model.embed_tokens.weight!.mul_(2);
        Assert.True(Fixtures.Same(lm.HeadWeight, lm.model.embed_tokens.weight!));
    }

    [Fact]
    public void UntiedHeadLoadsItsOwnWeightAndMissingHeadIsAnError()
    {
        var dir = Fixtures.TempDir();
        TinyConfig(tied: false).Save(Path.Combine(dir, "config.json"));
        var tensors = Safetensors.Load(Fixtures.ParityA("qwen3", "model.safetensors"));
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        var e = Assert.Throws<CheckpointException>(() => Pretrained.LoadCausalLM(dir));
        Assert.Contains("missing from the checkpoint", e.Message);
        Assert.Contains("lm_head.weight", e.Message);

        var head = randn(512, 64);
        tensors["lm_head.weight"] = head;
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        var lm = Pretrained.LoadCausalLM(dir);
        Assert.NotNull(lm.lm_head);
        Assert.True(Fixtures.Same(lm.lm_head!.weight!, head));
        Assert.False(Fixtures.Same(lm.lm_head.weight!, lm.model.embed_tokens.weight!));
    }

    [Fact]
    public void ShardedCheckpointLoadsLikeTheSingleFile()
    {
        var single = Pretrained.LoadSmolVLM(Fixtures.ParityA("smolvlm"));
        var dir = Fixtures.TempDir();
        File.Copy(Fixtures.ParityA("smolvlm", "config.json"), Path.Combine(dir, "config.json"));
        CheckpointLoader.Save(single, dir, maxShardBytes: 100_000);
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, CheckpointLoader.IndexFile)))!;
        int shards = index["weight_map"]!.AsObject().Select(kv => kv.Value!.GetValue<string>()).Distinct().Count();
        Assert.True(shards > 2, $"expected several shards, got {shards}");
        Assert.False(File.Exists(Path.Combine(dir, CheckpointLoader.SingleFile)));
        var sharded = Pretrained.LoadSmolVLM(dir);
        var a = single.state_dict(); var b = sharded.state_dict();
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var k in a.Keys) Assert.True(Fixtures.Same(a[k], b[k]), k);
    }

    [Fact]
    public void Bf16CheckpointLoadsIntoFloat32AndBf16Models()
    {
        var dir = Fixtures.TempDir();
        File.Copy(Fixtures.ParityA("qwen3", "config.json"), Path.Combine(dir, "config.json"));
        var f32 = Safetensors.Load(Fixtures.ParityA("qwen3", "model.safetensors"));
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), f32.Select(kv => KeyValuePair.Create(kv.Key, kv.Value.to(bfloat16))));
        var asF32 = Pretrained.LoadCausalLM(dir);
        var asBf16 = Pretrained.LoadCausalLM(dir, dtype: bfloat16);
        var w = f32["model.layers.0.mlp.up_proj.weight"];
        var loaded = asF32.state_dict()["model.layers.0.mlp.up_proj.weight"];
        Assert.Equal(ScalarType.Float32, loaded.dtype);
        Assert.True(Fixtures.Same(loaded, w.to(bfloat16).to(float32)));
        Assert.Equal(ScalarType.BFloat16, asBf16.state_dict()["model.layers.0.mlp.up_proj.weight"].dtype);
        using var ids = tensor(new long[] { 1, 5, 9, 300 }).unsqueeze(0);
        using var _ = no_grad();
        double d = Fixtures.MaxAbsDiff(asBf16.forward(ids).to(float32), asF32.forward(ids));
        Assert.True(d < 0.1, $"bf16 forward strays {d} from f32");
    }

    [Fact]
    public void ShapeMismatchAndUnexpectedTensorsAreNamed()
    {
        var dir = Fixtures.TempDir();
        (TinyConfig(tied: true) with { IntermediateSize = 96 }).Save(Path.Combine(dir, "config.json"));
        File.Copy(Fixtures.ParityA("qwen3", "model.safetensors"), Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => Pretrained.LoadCausalLM(dir));
        Assert.Contains("shape mismatch", e.Message);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[128, 64]", e.Message);
        Assert.Contains("[96, 64]", e.Message);

        var dir2 = Fixtures.TempDir();
        File.Copy(Fixtures.ParityA("qwen3", "config.json"), Path.Combine(dir2, "config.json"));
        var tensors = Safetensors.Load(Fixtures.ParityA("qwen3", "model.safetensors"));
        tensors["model.layers.0.self_attn.extra.weight"] = zeros(2);
        tensors.Remove("model.norm.weight");
        Safetensors.Save(Path.Combine(dir2, "model.safetensors"), tensors);
        var e2 = Assert.Throws<CheckpointException>(() => Pretrained.LoadCausalLM(dir2));
        Assert.Contains("unexpected in the checkpoint", e2.Message);
        Assert.Contains("model.layers.0.self_attn.extra.weight", e2.Message);
        Assert.Contains("missing from the checkpoint", e2.Message);
        Assert.Contains("model.norm.weight", e2.Message);
    }

    [Fact]
    public void MissingFolderContentsAreExplained()
    {
        var dir = Fixtures.TempDir();
        var e = Assert.Throws<CheckpointException>(() => CheckpointLoader.FindFiles(dir));
        Assert.Contains(dir, e.Message);
    }
}
