using SmVL.Data;
using SmVL.Evaluation;
using SmVL.Experiments;
using SmVL.Experiments.Verbs;
using SmVL.Export;
using SmVL.Generation;
using SmVL.Processing;
using SmVL.TinyWorld;
using Xunit;
using Xunit.Abstractions;

namespace SmVL.Tests.TinyWorld;

/// <summary>
/// The main job at its own settings, run once for the tests below (its parents are built once into
/// the cache and reused by `tiny`): connector-only and broken wiring, as `tiny --no-full` runs them.
/// </summary>
public sealed class MainJobFixture
{
    public string Dir { get; } = Fixtures.TempDir();
    public TinyWorldResult Result { get; }

    public MainJobFixture() => Result = new TinyWorldRun(new TinySettings(), Dir, _ => { }).Run(includeFull: false);
}

public class MainJobTests(MainJobFixture job, ITestOutputHelper log) : IClassFixture<MainJobFixture>
{
    /// <summary>
    /// The stitched model sees and the broken wiring does not. `--quick`'s parents are too weak for this
    /// (its connector-only model scores near the majority baseline, as a blind full fine-tune does), so
    /// the claim is tested where it is made. The thread schedule is fixed, so on a given core count the
    /// numbers are the same every run (docs/tinyworld.md has them).
    /// </summary>
    [Fact]
    public void TheStitchedModelSeesAndTheBrokenWiringDoesNot()
    {
        var stitched = job.Result.Run("stitched")!;
        var broken = job.Result.Run("broken_frozen")!;
        Assert.True(stitched.Accuracy >= job.Result.MajorityBaseline + 0.20, $"stitched {stitched.Accuracy:P1} vs majority {job.Result.MajorityBaseline:P1}");
        Assert.True(stitched.Accuracy >= broken.Accuracy + 0.20, $"stitched {stitched.Accuracy:P1} vs broken wiring {broken.Accuracy:P1}");
        Assert.True(broken.Accuracy <= job.Result.MajorityBaseline + 0.05, $"broken wiring {broken.Accuracy:P1} vs majority {job.Result.MajorityBaseline:P1}");
        Assert.Equal(0.0, broken.MaxConnectorGradNorm);
    }

    /// <summary>
    /// The trained model exported to GGUF and run by llama.cpp (text model + mmproj through mtmd, SmVL's
    /// prompts and crops) answers the held-out questions as SmVL does: the same answer to ≥ 95 % of them
    /// in f16, and llama.cpp's own q8_0 quantization within 2 points of f32 accuracy.
    /// </summary>
    [Fact]
    public void LlamaCppAnswersTheHeldOutQuestionsAsSmVLDoes()
    {
        string model = Path.Combine(job.Dir, "stitched", "model");
        var smvl = PredictionsFile.Read(Path.Combine(job.Dir, "stitched", "predictions.jsonl")).ToDictionary(r => r.Id, r => r.Prediction);
        var examples = VqaExample.From(new CauldronReader(Path.Combine(job.Dir, "data"), "eval").ReadSubset("tinyworld_zh")).ToList();
        var f16 = GgufExport.Write(model, Fixtures.TempDir(), GgmlType.F16);
        var f32 = GgufExport.Write(model, Fixtures.TempDir(), GgmlType.F32, quantize: "q8_0", threads: 2);
        using var loaded = ModelFolder.Load(model);
        var options = new VqaEvalOptions { Generation = loaded.Generation with { MaxNewTokens = 40 }, Progress = false };
        VqaEvalResult Answers(string text, string projector)
        {
            using var llama = LlamaCppGenerator.Load(text, projector);
            return VqaEvaluation.Run(llama, loaded.Processor, examples, options);
        }
        var (r16, r32, rq8) = (Answers(f16.Text, f16.Projector), Answers(f32.Text, f32.Projector), Answers(f32.Quantized!, f32.Projector));
        double Agreement(VqaEvalResult r) => r.Predictions.Count(p => smvl[p.Id] == p.Prediction) / (double)smvl.Count;
        double stitched = job.Result.Run("stitched")!.Accuracy;
        log.WriteLine($"{examples.Count} questions; accuracy SmVL {stitched:P1}, llama.cpp f32 {r32.Accuracy.Overall.Accuracy:P1}, f16 {r16.Accuracy.Overall.Accuracy:P1}, " +
                      $"q8_0 {rq8.Accuracy.Overall.Accuracy:P1}; SmVL's answer: f32 {Agreement(r32):P1}, f16 {Agreement(r16):P1}, q8_0 {Agreement(rq8):P1}");
        Assert.Equal(smvl.Count, r16.Predictions.Count);
        Assert.True(Agreement(r16) >= 0.95, $"llama.cpp f16 gives SmVL's answer to {Agreement(r16):P1} of the questions");
        Assert.True(Math.Abs(rq8.Accuracy.Overall.Accuracy - r32.Accuracy.Overall.Accuracy) <= 0.02,
            $"q8_0 accuracy {rq8.Accuracy.Overall.Accuracy:P1} vs f32 {r32.Accuracy.Overall.Accuracy:P1}");
    }

    /// <summary>The blog's demo, on the trained run: `generate` through llama.cpp (f16 GGUF pair) prints what SmVL's `generate` prints.</summary>
    [Fact]
    public async Task TheExportedRunAnswersTheBlogsDemoPromptAsGenerateDoes()
    {
        string model = Path.Combine(job.Dir, "stitched", "model");
        var files = GgufExport.Write(model, Fixtures.TempDir(), GgmlType.F16);
        var sample = new CauldronReader(Path.Combine(job.Dir, "data"), "eval").ReadSubset("tinyworld_zh").First();
        string image = Path.Combine(Fixtures.TempDir(), "scene.png");
        File.WriteAllBytes(image, ImageCodec.EncodePng(sample.DecodeImage()));
        string[] demo = ["--model", model, "--image", image, "--system", "使用中文回答所有问题。", "--prompt", "图中有什么？", "--max-new-tokens", "40"];
        string smvl = await Stdout(demo), llama = await Stdout([.. demo, "--gguf", files.Text, "--mmproj", files.Projector]);
        log.WriteLine($"SmVL: {smvl.Trim()} | llama.cpp: {llama.Trim()}");
        Assert.False(string.IsNullOrWhiteSpace(smvl));
        Assert.Equal(smvl, llama);
    }

    private static async Task<string> Stdout(string[] args)
    {
        var original = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        try { Assert.Equal(0, await Cli.Invoke(new GenerateVerb(), args)); }
        finally { Console.SetOut(original); }
        return writer.ToString();
    }
}
