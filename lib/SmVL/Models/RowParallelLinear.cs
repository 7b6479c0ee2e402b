using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// A linear layer applied to a single row (one token of one sequence: a decode step) with its
/// output rows split across libtorch's thread count. libtorch computes a one-row product on one
/// thread, so decoding would read the weights at a single core's bandwidth; each chunk here is the
/// same kernel on a slice of the weight rows, so the result is bitwise the one-thread product's.
/// Everything a worker makes is disposed by that worker (no scope on pool threads, nothing left to
/// the finalizer); the output is allocated by the caller's thread, in its dispose scope.
/// </summary>
public static class RowParallelLinear
{
    /// <summary>Off: every linear is libtorch's own product (the bench compares the two; results are the same bits).</summary>
    public static bool Enabled { get; set; } = true;

    /// <summary><paramref name="module"/>'s output, split across threads when <paramref name="x"/> is one row of a plain Linear on the CPU without autograd.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> module, Tensor x) =>
        module is Linear linear && Applies(x, linear.weight!) ? Apply(x, linear.weight!, linear.bias) : module.forward(x);

    /// <summary>x Wᵀ (+ b), split across threads when <paramref name="x"/> is one row on the CPU without autograd.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        Applies(x, weight) ? Apply(x, weight, bias) : nn.functional.linear(x, weight, bias);

    private static bool Applies(Tensor x, Tensor weight) =>
        Enabled && x.device.type == TorchSharp.DeviceType.CPU && get_num_threads() > 1 && x.NumberOfElements == weight.shape[1]
        && !(is_grad_enabled() && (x.requires_grad || weight.requires_grad)) && x.dtype == weight.dtype;

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        long rows = weight.shape[0];
        int parts = (int)Math.Min(get_num_threads(), Math.Max(1, rows / 256));
        long chunk = (rows + parts - 1) / parts;
        var shape = (long[])x.shape.Clone();
        shape[^1] = rows;
        var output = bias is null ? empty(shape, dtype: x.dtype) : bias.expand(shape).clone();
        using var row = x.reshape(1, weight.shape[1]);
        using var flat = output.view(1, rows);
        float beta = bias is null ? 0f : 1f;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            long start = p * chunk, length = Math.Min(chunk, rows - start);
            if (length <= 0) return;
            using var slice = weight.narrow(0, start, length);
            using var sliceT = slice.t();
            using var target = flat.narrow(1, start, length);
            using var written = target.addmm_(row, sliceT, beta, 1f);
        });
        return output;
    }
}
