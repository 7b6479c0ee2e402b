using SmVL.Models;
using SmVL.Stitching;
using SmVL.Training;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Stitching;

/// <summary>Frozen modules in bf16: the connector stays float32 and trains, the loss and its gradient stay near float32's.</summary>
public class FrozenPrecisionTests(ITestOutputHelper log)
{
    [Fact]
    public void Bf16FrozenModulesKeepAFloat32ConnectorAndItsGradientNearFloat32s()
    {
        var fp32 = StitchKit.Stitched();
        var bf16 = StitchKit.Stitched();
        Assert.Equal(ScalarType.BFloat16, FrozenPrecision.Apply(bf16, FreezePolicy.ConnectorOnly, FrozenDtype.BFloat16, CPU));
        Assert.All(bf16.named_parameters(), p => Assert.Equal(p.name.StartsWith("model.connector.") ? ScalarType.Float32 : ScalarType.BFloat16, p.parameter.dtype));
        Assert.All(bf16.named_parameters(), p => Assert.Equal(p.name.StartsWith("model.connector."), p.parameter.requires_grad));

        using var batch = StitchKit.MakeBatch(6, batch: 2, t: 16, pads: [0, 4]);
        (double loss, Tensor grad) Step(SmolVLMForConditionalGeneration m)
        {
            m.train();
            using var loss = CausalLMLoss.Sum(m, batch);
            loss.backward();
            var g = m.model.connector.modality_projection.proj.weight!.grad!;
            Assert.Equal(ScalarType.Float32, g.dtype);
            return (loss.item<float>(), g.clone());
        }
        var (l32, g32) = Step(fp32);
        var (l16, g16) = Step(bf16);
        double cosine = nn.functional.cosine_similarity(g32.flatten(), g16.flatten(), 0).item<float>();
        log.WriteLine($"loss fp32 {l32:F5} bf16 {l16:F5}; connector gradient cosine {cosine:F5}");
        Assert.InRange(Math.Abs(l16 - l32) / l32, 0, 0.02);
        Assert.True(cosine > 0.99, $"the bf16 path's connector gradient points elsewhere (cosine {cosine})");
    }

    [Fact]
    public void ABf16TrainedFolderReloadsAsFloat32WithTheSameWeights()
    {
        var model = StitchKit.Stitched();
        FrozenPrecision.Apply(model, FreezePolicy.ConnectorOnly, FrozenDtype.BFloat16, CPU);
        var dir = Fixtures.TempDir();
        Stitcher.Save(model, dir);
        using var back = SmVL.Models.Pretrained.LoadSmolVLM(dir);
        var saved = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in back.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(0.0, Fixtures.MaxAbsDiff(saved[name].to(ScalarType.Float32), p));   // bf16 values are exact in float32
        }
    }

    [Fact]
    public void Bf16IsRefusedWherePartsOfTheCastModulesTrain()
    {
        var model = StitchKit.Stitched(policy: FreezePolicy.Full);
        Assert.Throws<ArgumentException>(() => FrozenPrecision.Apply(model, FreezePolicy.Full, FrozenDtype.BFloat16, CPU));
        Assert.Equal(ScalarType.Float32, FrozenPrecision.Apply(model, FreezePolicy.Full, FrozenDtype.Auto, CPU));
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.Contains(new Experiment { Freeze = new FreezeSpec { Policy = "full", Dtype = "bfloat16" } }.Problems(), p => p.Contains("freeze.dtype"));
        Assert.Contains(new Experiment { Freeze = new FreezeSpec { Dtype = "half" } }.Problems(), p => p.Contains("freeze.dtype"));
    }

    [Fact]
    public void AutoFollowsTheMeasuredProbe()
    {
        var model = StitchKit.Stitched();
        var said = new List<string>();
        var dtype = FrozenPrecision.Apply(model, FreezePolicy.ConnectorOnly, FrozenDtype.Auto, CPU, said.Add);
        log.WriteLine(string.Join("\n", said));
        Assert.Equal(said.Single().StartsWith("frozen modules in bfloat16") ? ScalarType.BFloat16 : ScalarType.Float32, dtype);
        Assert.Contains("matmul", said.Single());
        Assert.Equal(dtype, model.model.text_model.embed_tokens.weight!.dtype);
    }
}
