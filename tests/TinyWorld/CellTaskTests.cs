using SmVL.Models;
using SmVL.TinyWorld;
using SmVL.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.TinyWorld;

/// <summary>The vision parent's cell task: its loss is the one-hot regression, and the project's Trainer teaches it.</summary>
public class CellTaskTests
{
    private static readonly TinySettings Settings = TinySettings.Quick;

    private static List<(float[] pixels, int tiles, long[] labels)> Data(int n)
    {
        var parents = new TinyParents(Settings, TinyParents.CreateProcessor(), _ => { });
        return new TinyWorldGenerator(5, stream: 7).Generate(n).Select(t => parents.VisionSample(t.Scene, TinyWorldRasteriser.Render(t.Scene))).ToList();
    }

    [Fact]
    public void TheLossIsTheSquaredErrorToTheCellsOneHotAveragedOverCells()
    {
        var data = Data(16);
        using var parent = new SmolVLMForConditionalGeneration(TinyParents.ParentConfig(Settings));
        using var task = new CellTask(parent.model.vision_model, 2, TinyParents.PatchClasses, seed: 3);
        var objective = task.Objective(data, microBatch: 4, seed: 1);
        var batch = TrainingOrder.Permutation(data.Count, 1)[8..12].Select(i => data[i]).ToList();   // micro-batch 2
        long cells = batch.Sum(b => b.labels.Length), shapes = batch.Sum(b => b.labels.Count(l => l != 0));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var micro = objective.Loss(2);
        Assert.Equal((1L, cells, 4L), (micro.Items, micro.Tokens, micro.Samples));
        Assert.Equal(micro.Sum.item<float>(), objective.Loss(2).Sum.item<float>());   // micro-batch i is always the same data
        // A zero head predicts no class: every cell's error is its one-hot, squared sum 1.
        task.head.weight!.zero_(); task.head.bias!.zero_();
        Assert.Equal(1f, objective.Loss(2).Sum.item<float>());
        // "Empty" everywhere: 0 for the empty cells, 1 + 1 for each shape cell.
        task.head.bias![0] = tensor(1f);
        Assert.Equal(2.0 * shapes / cells, objective.Loss(2).Sum.item<float>(), 6);
    }

    [Fact]
    public void TheTrainerTeachesTheTowerAndLeavesTheParentsTextModelAlone()
    {
        var data = Data(64);
        manual_seed(1);
        using var parent = new SmolVLMForConditionalGeneration(TinyParents.ParentConfig(Settings));
        using var task = new CellTask(parent.model.vision_model, 2, TinyParents.PatchClasses, seed: 3);
        var textBefore = parent.model.text_model.named_parameters().ToDictionary(np => np.name, np => np.parameter.detach().clone());
        var towerBefore = parent.model.vision_model.named_parameters().ToDictionary(np => np.name, np => np.parameter.detach().clone());
        var options = new TrainOptions { Steps = 80, GradAccum = 1, LearningRate = 1e-2, WarmupSteps = 4, WeightDecay = 0, ClipNorm = 0, EvalEvery = 0, SaveEvery = 0, Progress = false };
        using var trainer = new Trainer(task, options, Fixtures.TempDir()) { Tensorboard = false };
        trainer.Run(task.Objective(data, microBatch: 8, seed: 1));

        Assert.All(trainer.TrainableNames, n => Assert.True(n.StartsWith("vision_model.") || n.StartsWith("head."), n));
        Assert.Equal(towerBefore.Count + 2, trainer.OptimizerStateCount);
        Assert.True(trainer.Losses.TakeLast(10).Average() < 0.5 * trainer.Losses.Take(5).Average(),
            $"loss {trainer.Losses.Take(5).Average():F3} → {trainer.Losses.TakeLast(10).Average():F3}");
        foreach (var (name, p) in parent.model.text_model.named_parameters()) Assert.True(p.eq(textBefore[name]).all().item<bool>(), name);
        Assert.Contains(parent.model.vision_model.named_parameters(), np => !np.parameter.eq(towerBefore[np.name]).all().item<bool>());
    }
}
