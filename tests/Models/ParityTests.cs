using SmVL.Checkpoints;
using SmVL.Evaluation;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Models;

/// <summary>
/// Parity set A: our stack against reference outputs of an independent PyTorch implementation
/// of HF's Qwen3 and SmolVLM math. Bars: logits/hidden ≤ 1e-4, vision/connector ≤ 2e-5, tokens exact.
/// </summary>
public class ParityTests(ITestOutputHelper log)
{
    private const double Logits = 1e-4, Vision = 2e-5;

    private void Check(Dictionary<string, Tensor> ours, Dictionary<string, Tensor> reference, string key, double tol)
    {
        Assert.True(ours.ContainsKey(key), $"no output for {key}");
        double d = Fixtures.MaxAbsDiff(ours[key], reference[key]);
        log.WriteLine($"{key,-36} max|diff| = {d:E2}");
        Assert.True(d <= tol, $"{key}: max abs diff {d} > {tol}");
    }

    [Fact]
    public void Qwen3MatchesReference()
    {
        var reference = Safetensors.Load(Fixtures.ParityA("qwen3", "reference.safetensors"));
        var ours = Parity.Run(Fixtures.ParityA("qwen3"), Fixtures.ParityA("qwen3", "reference.safetensors"));
        foreach (var key in reference.Keys.Where(k => k.StartsWith("seq") && !k.EndsWith("input_ids")))
            Check(ours, reference, key, Logits);
        foreach (var key in new[] { "rope.inv_freq", "rope.cos", "rope.sin" }) Check(ours, reference, key, 1e-6);
        Assert.Equal(reference["generate.new_token_ids"].data<long>().ToArray(), ours["generate.new_token_ids"].data<long>().ToArray());
        Check(ours, reference, "generate.step_logits", Logits);
    }

    [Fact]
    public void SmolVLMMatchesReference()
    {
        var refPath = Fixtures.ParityA("smolvlm", "reference.safetensors");
        var reference = Safetensors.Load(refPath);
        var ours = Parity.Run(Fixtures.ParityA("smolvlm"), refPath, mergerImageTokenId: 501);
        foreach (var key in new[] { "vision.embeddings", "vision.layer0", "vision.layer1", "vision.last_hidden_state",
                                    "connector.pixel_shuffled", "connector.output", "vision.partial.last_hidden_state" })
            Check(ours, reference, key, Vision);
        foreach (var c in new[] { "one_image", "two_images" })
        {
            Check(ours, reference, c + ".connector_output", Vision);
            Check(ours, reference, c + ".inputs_embeds", Logits);
            Check(ours, reference, c + ".logits", Logits);
            Check(ours, reference, c + ".logits_broken_wiring", Logits);
        }
    }

    [Fact]
    public void BrokenWiringEqualsTheTextModelAlone()
    {
        // With the merger looking for an id that is not there, the VLM is exactly the text model
        // reading the placeholder tokens: the blind model of the blog.
        var refPath = Fixtures.ParityA("smolvlm", "reference.safetensors");
        var vlm = Parity.Run(Fixtures.ParityA("smolvlm"), refPath, mergerImageTokenId: 501);
        var lm = SmVL.Models.Pretrained.LoadCausalLM(Fixtures.ParityA("qwen3"));
        var reference = Safetensors.Load(refPath);
        using var _ = no_grad();
        foreach (var c in new[] { "one_image", "two_images" })
        {
            var text = lm.forward(reference[c + ".input_ids"]);
            Assert.Equal(0.0, Fixtures.MaxAbsDiff(vlm[c + ".logits_broken_wiring"], text));
            Assert.True(Fixtures.MaxAbsDiff(vlm[c + ".logits"], text) > 0.1, "working wiring must change the logits");
        }
    }
}
