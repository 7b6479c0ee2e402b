using SmVL.Checkpoints;
using SmVL.Models;
using SmVL.Tests.Stitching;
using SmVL.Training;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Training;

/// <summary>A step's micro-batches side by side on replicas: the same bits as one after another.</summary>
public class ParallelMicroBatchesTests
{
    private static readonly TextConfig Config = TextConfig.Qwen3_0_6B with
    {
        VocabSize = 97, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDimOrNull = 8,
    };

    private static Qwen3ForCausalLM Model()
    {
        var m = new Qwen3ForCausalLM(Config);
        WeightInit.HfNormal(m, 0.02, 5);
        return m;
    }

    /// <summary>Micro-batch i: 3 right-padded rows of random tokens, the second half of each row labelled.</summary>
    private sealed class Source : IBatchSource
    {
        public Batch Get(long i)
        {
            var rng = new Random((int)i + 1);
            const int rows = 3, T = 12;
            var ids = new long[rows * T];
            var mask = new long[rows * T];
            var labels = new long[rows * T];
            for (int r = 0; r < rows; r++)
            {
                int len = T - rng.Next(4);
                for (int t = 0; t < T; t++)
                {
                    int k = r * T + t;
                    ids[k] = t < len ? rng.Next(Config.VocabSize) : 0;
                    mask[k] = t < len ? 1 : 0;
                    labels[k] = t < len && t >= len / 2 ? ids[k] : -100;
                }
            }
            return new Batch(tensor(ids).view(rows, T), tensor(mask).view(rows, T), tensor(labels).view(rows, T), null);
        }
    }

    /// <summary>Per-step losses and the final weights of a run of <paramref name="accum"/> micro-batches per step.</summary>
    private static (List<double> losses, List<Tensor> weights) Train(int accum, Func<long, int>? workers)
    {
        using var model = Model();
        using var parallel = workers is null ? null : new ParallelMicroBatches(model, [Model(), Model()]) { Workers = workers(0) };
        var o = new TrainOptions { Steps = 6, GradAccum = accum, LearningRate = 1e-2, Schedule = "cosine", WarmupRatio = 0, EvalEvery = 0, SaveEvery = 0, Progress = false };
        using var trainer = new Trainer(model, o, Fixtures.TempDir()) { Tensorboard = false, Parallel = parallel };
        var losses = new List<double>();
        trainer.Run(new Source(), onStep: (step, row) =>
        {
            losses.Add(row["loss"]);
            if (parallel is not null) parallel.Workers = workers!(step);
        });
        return (losses, model.parameters().Select(p => p.detach().clone().DetachFromDisposeScope()).ToList());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SideBySideEqualsOneAfterAnother(int accum)
    {
        var (losses, weights) = Train(accum, null);
        foreach (var workers in new Func<long, int>[] { _ => 2, _ => 3, step => step < 3 ? 1 : 2 })
        {
            var (l, w) = Train(accum, workers);
            Assert.Equal(losses.Select(BitConverter.DoubleToInt64Bits), l.Select(BitConverter.DoubleToInt64Bits));
            Assert.All(weights.Zip(w), p => Assert.True(StitchKit.BitEqual(p.First, p.Second), "weights differ from sequential accumulation"));
        }
        // The weights moved: the comparison is not between two untrained models.
        using var init = Model();
        Assert.False(StitchKit.BitEqual(init.parameters().First(), weights[0]));
    }

    [Fact]
    public void ReplicasMustMatchTheModel()
    {
        using var model = Model();
        using var other = new Qwen3ForCausalLM(Config with { HiddenSize = 16, HeadDimOrNull = 4 });
        Assert.Throws<ArgumentException>(() => new ParallelMicroBatches(model, [other]));
        using var parallel = new ParallelMicroBatches(model, [Model()]);
        using var elsewhere = Model();
        Assert.Throws<ArgumentException>(() => new Trainer(elsewhere, new TrainOptions { Steps = 1 }, Fixtures.TempDir()) { Parallel = parallel });
    }
}
