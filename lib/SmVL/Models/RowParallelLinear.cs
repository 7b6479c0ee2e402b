using System.Runtime.Intrinsics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// A linear layer applied to a single row (one token of one sequence: a decode step), the product that
/// decides decode speed: every weight is read once per token, so it runs at memory bandwidth or not at
/// all. libtorch computes a one-row product on one thread. Here the weight's rows are cut into one
/// block per thread (<see cref="WorkerTeam"/>) and each row's dot product is an AVX-512 loop over
/// four rows at a time (four read streams, one load of x for four FMAs). Each row is summed by one
/// thread in a fixed order, so the result does not depend on the thread count; it is not bitwise
/// libtorch's product (a different summation order), as llama.cpp's is not either. Without AVX-512
/// (or for a width that is not a multiple of 16) the row is multiplied against the blocks as one
/// libtorch <c>bmm</c>, which libtorch spreads over its own threads.
/// </summary>
public static unsafe class RowParallelLinear
{
    /// <summary>Off: every linear is libtorch's own product (the bench compares the two).</summary>
    public static bool Enabled { get; set; } = true;

    private static readonly RowKernel Kernel = new();

    [ThreadStatic] private static int _teamThreads;

    /// <summary>
    /// For a decode step whose products are all one-row (batch 1): until disposed, libtorch runs on
    /// the calling thread alone and the products use all of its threads through the team. After a
    /// parallel op libgomp's worker spins for a while on its core; a team worker would share that
    /// core and halve its product's speed. Restores the thread count when disposed.
    /// </summary>
    public static TeamScope TeamOnly() => new(Enabled ? get_num_threads() : 0);

    /// <summary>See <see cref="TeamOnly"/>.</summary>
    public readonly struct TeamScope : IDisposable
    {
        private readonly int _threads, _before;

        internal TeamScope(int threads)
        {
            (_threads, _before) = (threads, _teamThreads);
            if (threads <= 1) return;
            _teamThreads = threads;
            set_num_threads(1);
        }

        public void Dispose()
        {
            if (_threads <= 1) return;
            _teamThreads = _before;
            set_num_threads(_threads);
        }
    }

    /// <summary><paramref name="module"/>'s output, split across threads when <paramref name="x"/> is one row of a plain Linear on the CPU without autograd.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> module, Tensor x) =>
        module is Linear linear && Applies(x, linear.weight!) ? Apply(x, linear.weight!, linear.bias) : module.forward(x);

    /// <summary>x Wᵀ (+ b), split across threads when <paramref name="x"/> is one row on the CPU without autograd.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        Applies(x, weight) ? Apply(x, weight, bias) : nn.functional.linear(x, weight, bias);

    private static bool Applies(Tensor x, Tensor weight) =>
        Enabled && x.device.type == TorchSharp.DeviceType.CPU && x.NumberOfElements == weight.shape[1] && x.dtype == weight.dtype
        && !(is_grad_enabled() && (x.requires_grad || weight.requires_grad)) && weight.is_contiguous()
        && (RowKernel.Fits(weight) || BmmBlocks(weight) > 1);

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        var shape = (long[])x.shape.Clone();
        shape[^1] = weight.shape[0];
        if (!RowKernel.Fits(weight) || (bias is not null && (bias.dtype != ScalarType.Float32 || !bias.is_contiguous())))
            return BmmSplit(x, weight, bias, shape);
        var y = empty(shape, float32);
        using var row = x.contiguous();
        Kernel.Run(WorkerTeam.Of(_teamThreads > 0 ? _teamThreads : get_num_threads()), weight, row, bias, y);
        return y;
    }

    private static int BmmBlocks(Tensor weight)
    {
        int threads = get_num_threads();
        return threads > 1 && weight.shape[0] % threads == 0 && weight.shape[0] / threads >= 256 ? threads : 1;
    }

    /// <summary>The row against <c>threads</c> blocks of the weight's rows as one <c>bmm</c>: bitwise libtorch's one-thread product.</summary>
    private static Tensor BmmSplit(Tensor x, Tensor weight, Tensor? bias, long[] shape)
    {
        int blocks = BmmBlocks(weight);
        if (blocks == 1) return nn.functional.linear(x, weight, bias);
        using var scope = NewDisposeScope();
        long rows = weight.shape[0], cols = weight.shape[1];
        var row = x.reshape(1, 1, cols).expand(blocks, 1, cols).contiguous();                 // (blocks, 1, K)
        var slices = weight.view(blocks, rows / blocks, cols).transpose(1, 2);                // (blocks, K, rows/blocks)
        var y = row.bmm(slices).reshape(shape);
        if (bias is not null) y = y.add_(bias, SmVL.Scalars.One);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// y = W x (+ b) for one row: rows split into one contiguous block per thread (multiples of four),
    /// four rows per pass over x. One instance, its fields set under a lock for each product, so a
    /// product allocates nothing but its output.
    /// </summary>
    private sealed class RowKernel
    {
        private const int Lanes = 16;   // floats per Vector512
        private readonly Action<int> _part;
        private float* _w, _x, _b, _y;
        private int _rows, _cols, _parts;

        public RowKernel() => _part = Part;

        /// <summary>fp32, contiguous, rows a multiple of 16 floats, addressable as one span, on a machine with AVX-512.</summary>
        public static bool Fits(Tensor t) =>
            Vector512.IsHardwareAccelerated && t.dtype == ScalarType.Float32 && t.is_contiguous()
            && t.shape[^1] % Lanes == 0 && t.NumberOfElements * sizeof(float) <= int.MaxValue;

        public void Run(WorkerTeam team, Tensor w, Tensor x, Tensor? b, Tensor y)
        {
            lock (this)
            {
                fixed (byte* pw = w.bytes, px = x.bytes, py = y.bytes)
                fixed (byte* pb = b is null ? default : b.bytes)
                {
                    _w = (float*)pw; _x = (float*)px; _y = (float*)py; _b = (float*)pb;
                    (_rows, _cols) = ((int)w.shape[0], (int)w.shape[1]);
                    // Small products on one thread: waking a worker costs more than the rows.
                    _parts = (long)_rows * _cols < 64 * 1024 ? 1 : team.Size;
                    if (_parts == 1) Part(0); else team.Run(_part);
                }
            }
        }

        private void Part(int part)
        {
            if (part >= _parts) return;
            int block = (_rows / _parts + 3) & ~3;
            int r0 = Math.Min(_rows, part * block), r1 = part == _parts - 1 ? _rows : Math.Min(_rows, r0 + block);
            int cols = _cols, r = r0;
            float* x = _x;
            for (; r + 4 <= r1; r += 4)
            {
                float* w0 = _w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int c = 0; c < cols; c += Lanes)
                {
                    var xc = Vector512.Load(x + c);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + c), xc, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + c), xc, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + c), xc, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + c), xc, a3);
                }
                Store(r, Vector512.Sum(a0)); Store(r + 1, Vector512.Sum(a1)); Store(r + 2, Vector512.Sum(a2)); Store(r + 3, Vector512.Sum(a3));
            }
            for (; r < r1; r++)
            {
                float* w0 = _w + (long)r * cols;
                Vector512<float> a0 = default;
                for (int c = 0; c < cols; c += Lanes)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + c), Vector512.Load(x + c), a0);
                Store(r, Vector512.Sum(a0));
            }
        }

        private void Store(int r, float dot) => _y[r] = _b is null ? dot : dot + _b[r];
    }
}
