using System.Text.Json.Nodes;
using SmVL.Checkpoints;
using SmVL.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = SmVL.Training.AdamW;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>SmVL's AdamW against PyTorch's update (fixtures/optim/adamw.json, make_adamw.py), and its checkpoint file.</summary>
public class AdamWTests(ITestOutputHelper log)
{
    private static readonly JsonNode Reference = JsonNode.Parse(File.ReadAllText(Fixtures.Dir("optim", "adamw.json")))!;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void MatchesPyTorchsAdamWOverEightSteps(int caseIndex)
    {
        var c = Reference["cases"]![caseIndex]!;
        var names = new[] { "b", "w" };
        var ps = names.ToDictionary(n => n, n => new Parameter(Values(c["start"]![n]!, c["shapes"]![n]!)));
        using var opt = new AdamW(names.Select(n => (n, ps[n])), 0, Reference["beta1"]!.GetValue<double>(), Reference["beta2"]!.GetValue<double>(),
                                  Reference["eps"]!.GetValue<double>(), c["weight_decay"]!.GetValue<double>());
        var lrs = c["lrs"]!.AsArray();
        for (int step = 0; step < lrs.Count; step++)
        {
            foreach (var n in names) ps[n].grad = Values(c["grads"]![step]![n]!, c["shapes"]![n]!);
            opt.LearningRate = lrs[step]!.GetValue<double>();
            opt.Step();
        }
        string file = Path.Combine(Fixtures.TempDir(), "optimizer.safetensors");
        opt.Save(file);
        using var saved = SafetensorsFile.Open(file);
        Assert.Equal("8", saved.Metadata["step"]);
        foreach (var n in names)
        {
            double p = Fixtures.MaxAbsDiff(ps[n], Values(c["params"]![n]!, c["shapes"]![n]!));
            double m = Fixtures.MaxAbsDiff(saved.Read(n + ".exp_avg"), Values(c["exp_avg"]![n]!, c["shapes"]![n]!));
            double v = Fixtures.MaxAbsDiff(saved.Read(n + ".exp_avg_sq"), Values(c["exp_avg_sq"]![n]!, c["shapes"]![n]!));
            log.WriteLine($"{n}: param {p:E2}, exp_avg {m:E2}, exp_avg_sq {v:E2}");
            // Bitwise equal on this machine; the bound leaves room for another CPU's vectorised lerp.
            // A wrong formula (no bias correction, eps inside the root, coupled decay) is off by 1e-4 or more.
            Assert.True(p <= 1e-6 && m <= 1e-6 && v <= 1e-5, $"{n}: param {p:E2}, exp_avg {m:E2}, exp_avg_sq {v:E2}");
        }
    }

    [Fact]
    public void ASavedAndLoadedOptimizerContinuesBitwise()
    {
        var gen = new Generator(3, CPU);
        var w = new Parameter(randn(new long[] { 6, 4 }, generator: gen));
        var w2 = new Parameter(w.detach().clone());
        var grads = Enumerable.Range(0, 6).Select(_ => randn(new long[] { 6, 4 }, generator: gen)).ToList();
        using var a = new AdamW(new[] { ("w", w) }, 1e-2);
        using var b = new AdamW(new[] { ("w", w2) }, 1e-2);
        string file = Path.Combine(Fixtures.TempDir(), "optimizer.safetensors");
        for (int i = 0; i < 3; i++) { w.grad = grads[i].clone(); a.Step(); w2.grad = grads[i].clone(); b.Step(); }
        b.Save(file);
        using var c = new AdamW(new[] { ("w", w2) }, 1e-2);
        c.Load(file);
        Assert.Equal(3, c.Steps);
        for (int i = 3; i < 6; i++) { w.grad = grads[i].clone(); a.Step(); w2.grad = grads[i].clone(); c.Step(); }
        Assert.True(Fixtures.Same(w, w2));
    }

    [Fact]
    public void LoadingAnotherParametersStateNamesTheFileAndTensor()
    {
        var w = new Parameter(ones(3, 2));
        using var opt = new AdamW(new[] { ("w", w) }, 1e-2);
        w.grad = ones(3, 2); opt.Step();
        string file = Path.Combine(Fixtures.TempDir(), "optimizer.safetensors");
        opt.Save(file);
        using var other = new AdamW(new[] { ("w", new Parameter(ones(2, 3))) }, 1e-2);
        var e = Assert.Throws<CheckpointException>(() => { other.Load(file); });
        Assert.Contains(file, e.Message);
        Assert.Contains("w.exp_avg", e.Message);
    }

    private static Tensor Values(JsonNode values, JsonNode shape) =>
        tensor(values.AsArray().Select(v => (float)v!.GetValue<double>()).ToArray(), shape.AsArray().Select(s => (long)s!.GetValue<int>()).ToArray());
}
