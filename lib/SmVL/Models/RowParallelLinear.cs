using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// A linear layer applied to a single row (one token of one sequence: a decode step) with its
/// output rows split across libtorch's threads. libtorch computes a one-row product on one thread,
/// so decoding would read the weights at a single core's bandwidth. Here the weight's rows are cut
/// into one block per thread and multiplied as a batch (bmm of the row against each block), which
/// libtorch spreads over its own thread pool; each block is the same one-row kernel on a slice of
/// the rows, so the result is bitwise the one-thread product's.
/// </summary>
public static class RowParallelLinear
{
    /// <summary>Off: every linear is libtorch's own product (the bench compares the two; results are the same bits).</summary>
    public static bool Enabled { get; set; } = true;

    /// <summary><paramref name="module"/>'s output, split across threads when <paramref name="x"/> is one row of a plain Linear on the CPU without autograd.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> module, Tensor x) =>
        module is Linear linear && Blocks(x, linear.weight!) is int blocks and > 1 ? Apply(x, linear.weight!, linear.bias, blocks) : module.forward(x);

    /// <summary>x Wᵀ (+ b), split across threads when <paramref name="x"/> is one row on the CPU without autograd.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        Blocks(x, weight) is int blocks and > 1 ? Apply(x, weight, bias, blocks) : nn.functional.linear(x, weight, bias);

    /// <summary>Row blocks to use (1: the plain product): one per thread, when the rows divide evenly.</summary>
    private static int Blocks(Tensor x, Tensor weight)
    {
        if (!Enabled || x.device.type != TorchSharp.DeviceType.CPU || x.NumberOfElements != weight.shape[1] || x.dtype != weight.dtype
            || (is_grad_enabled() && (x.requires_grad || weight.requires_grad)) || !weight.is_contiguous())
            return 1;
        int threads = get_num_threads();
        return threads > 1 && weight.shape[0] % threads == 0 && weight.shape[0] / threads >= 256 ? threads : 1;
    }

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias, int blocks)
    {
        using var scope = NewDisposeScope();
        long rows = weight.shape[0], cols = weight.shape[1];
        var row = x.reshape(1, 1, cols).expand(blocks, 1, cols).contiguous();                 // (blocks, 1, K)
        var slices = weight.view(blocks, rows / blocks, cols).transpose(1, 2);                // (blocks, K, rows/blocks)
        var shape = (long[])x.shape.Clone();
        shape[^1] = rows;
        var y = row.bmm(slices).reshape(shape);
        if (bias is not null) y = y.add_(bias, SmVL.Scalars.One);
        return y.MoveToOuterDisposeScope();
    }
}
