using SmVL.Processing;
using SmVL.Training;

namespace SmVL.TinyWorld;

/// <summary>
/// Micro-batch i = a fixed slice of a seeded permutation of processed samples: the same i always
/// gives the same batch, so resumed runs see the same data.
/// </summary>
public sealed class SampleBatches(Processor processor, IReadOnlyList<ProcessedSample> data, int microBatch, long seed) : IBatchSource
{
    private readonly int[] _order = TrainingOrder.Permutation(data.Count, seed);

    public Batch Get(long i) => processor.Collate(Enumerable.Range(0, microBatch)
        .Select(j => data[_order[(int)((i * microBatch + j) % data.Count)]]).ToList());
}
