using System.Diagnostics;
using SmVL.Data;
using SmVL.Processing;
using SmVL.Training;
using static TorchSharp.torch;

namespace SmVL.Benchmarks;

/// <summary>What a resume at <see cref="Step"/> costs before its first micro-batch is ready, seeking and replaying.</summary>
/// <param name="StartupSeconds">seek to the checkpoint's data position, then build the micro-batch</param>
/// <param name="ReplaySeconds">the same micro-batch from the start of the sequence (what a resume without a position does)</param>
public sealed record ResumeResult(long Step, int Rows, int RowGroupRows, int ImageWidth, int ImageHeight, long ParquetBytes,
    double StartupSeconds, long SamplesRead, double ReplaySeconds, long ReplaySamplesRead)
{
    public double Speedup => ReplaySeconds / StartupSeconds;
}

/// <summary>
/// Resume start-up on real-size data: a generated Cauldron-format parquet (photo-sized JPEGs, one
/// question each, many row groups), read in the trainer's order (a recipe's shuffled rows, one sample
/// per micro-batch). The micro-batch after step N is built twice from a fresh reader: by seeking to
/// the position a checkpoint at step N records, and by reading every earlier sample again. Both must
/// give the same batch.
/// </summary>
public static class ResumeBench
{
    public static ResumeResult Run(Processor processor, string workDir, long step, int width, int height, int rowGroupRows)
    {
        var recipe = CauldronRecipe.Single("bench_vqa", (int)step + 16);   // training rows past step N
        int rows = recipe.EvalCount + recipe.TrainCount!.Value;               // the recipe's eval rows come first
        string root = Path.Combine(workDir, "cauldron");
        string file = Path.Combine(root, "bench_vqa", "train-00000-of-00001.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        CauldronParquet.Write(file, Enumerable.Range(0, rows).Select(i => Row(i, width, height)), rowGroupRows);

        VqaBatches Batches() => new(processor, recipe.Select(new CauldronReader(root)).TrainSequence, microBatch: 1,
                                    LabelPolicy.AssistantOnly, maxLength: 1 << 16);
        // The position a checkpoint at step N records: where micro-batch N starts, after training micro-batch N − 1.
        var before = Batches();
        before.Get(step - 1).Dispose();
        string position = before.PositionOf(step) ?? throw new InvalidOperationException("the batch source gave no data position");

        var seeking = Batches();
        var clock = Stopwatch.StartNew();
        seeking.Seek(step, position);
        using var seeked = seeking.Get(step);
        double startup = clock.Elapsed.TotalSeconds;

        var replaying = Batches();
        clock.Restart();
        using var replayed = replaying.Get(step);
        double replay = clock.Elapsed.TotalSeconds;
        if (!Same(seeked.InputIds, replayed.InputIds) || !Same(seeked.PixelValues!, replayed.PixelValues!))
            throw new InvalidOperationException($"the seeked micro-batch {step} differs from the replayed one");
        return new ResumeResult(step, rows, rowGroupRows, width, height, new FileInfo(file).Length, startup, seeking.SamplesRead, replay, replaying.SamplesRead);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>A photo-like image (gradients under noise, so JPEG sizes are a photo's) and a question about it.</summary>
    private static CauldronRow Row(int i, int width, int height)
    {
        var random = new Random(i);
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    pixels[(y * width + x) * 3 + c] = (byte)Math.Clamp((c == 0 ? x * 255 / width : c == 1 ? y * 255 / height : (i * 37) % 256) + random.Next(-40, 41), 0, 255);
        var image = ImageCodec.EncodeJpeg(new RgbImage(width, height, pixels));
        return new CauldronRow([new CauldronImage(image, null)], [new CauldronText($"What is in picture {i}?", $"Picture {i}.", "bench")]);
    }
}
