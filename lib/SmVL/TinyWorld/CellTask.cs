using SmVL.Models;
using SmVL.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.TinyWorld;

/// <summary>
/// The vision parent's dense auxiliary task (docs/tinyworld.md: end-to-end VQA loss alone did not
/// teach the tower). It is posed on exactly what the connector will see: the tower's patches,
/// pixel-shuffled into one cell (scale² patches) per image token, go through a linear head that
/// regresses onto the one-hot of the cell's class (empty, or one shape×colour). A regression, not a
/// classification: the connector is linear and must *produce* a code, not just rank classes.
/// </summary>
public sealed class CellTask : nn.Module<Tensor, Tensor>
{
    public readonly VisionTransformer vision_model;
    public readonly Linear head;
    private readonly int _scale, _classes;

    /// <param name="vision">the tower being pretrained (owned by its parent model, which saves it)</param>
    public CellTask(VisionTransformer vision, int scale, int classes, long seed) : base(nameof(CellTask))
    {
        vision_model = vision; _scale = scale; _classes = classes;
        head = nn.Linear(vision.Config.HiddenSize * scale * scale, classes);
        WeightInit.HfNormal(head, 0.02, seed);   // its own generator: the language parent may be training on another thread
        RegisterComponents();
    }

    /// <summary>Tiles (N, 3, H, W) → one code per image-token cell (N·cells, classes).</summary>
    public override Tensor forward(Tensor pixels) =>
        head.forward(PixelShuffleConnector.PixelShuffle(vision_model.forward(pixels), _scale)).reshape(-1, _classes);

    /// <summary>
    /// The task as a trainer objective: micro-batch i is a fixed slice of a seeded permutation of
    /// <paramref name="data"/>; its loss is the squared error summed over classes and averaged over
    /// cells, so the whole micro-batch is one item.
    /// </summary>
    public IObjective Objective(IReadOnlyList<(float[] pixels, int tiles, long[] labels)> data, int microBatch, long seed) =>
        new CellObjective(this, data, microBatch, TrainingOrder.Permutation(data.Count, seed));

    private sealed class CellObjective(CellTask task, IReadOnlyList<(float[] pixels, int tiles, long[] labels)> data, int microBatch, int[] order) : IObjective
    {
        public MicroBatchLoss Loss(long microBatchIndex)
        {
            var batch = Enumerable.Range(0, microBatch).Select(j => data[order[(int)((microBatchIndex * microBatch + j) % data.Count)]]).ToList();
            long side = task.vision_model.Config.ImageSize;
            var pixels = cat(batch.Select(b => tensor(b.pixels, new long[] { b.tiles, 3, side, side })).ToList(), 0);
            var labels = cat(batch.Select(b => tensor(b.labels)).ToList(), 0);
            var codes = task.forward(pixels);
            var error = codes - nn.functional.one_hot(labels, task._classes).to(codes.dtype);
            return new(error.pow(Scalars.Two).sum(-1).mean(), Items: 1, Tokens: labels.shape[0], Samples: microBatch);
        }
    }
}
