using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// A linear layer applied to a single row (one token of one sequence: a decode step), the product that
/// decides decode speed: every weight is read once per token, so it runs at memory bandwidth or not at
/// all. libtorch computes a one-row product on one thread. Here the weight's rows are shared between
/// the threads of a <see cref="WorkerTeam"/> (<see cref="RowShares"/>: one block each, read front to
/// back one row at a time — a single sequential stream, which the hardware prefetcher follows best —
/// and the slower thread's last rows taken by the faster), with four AVX-512 accumulators per row. Each row is summed by one thread in a fixed order, so the result
/// does not depend on the thread count; it is not bitwise libtorch's product (a different summation
/// order), as llama.cpp's is not either. Without AVX-512
/// (or for a width that is not a multiple of 16) the row is multiplied against the blocks as one
/// libtorch <c>bmm</c>, which libtorch spreads over its own threads.
/// </summary>
public static unsafe class RowParallelLinear
{
    private const int Lanes = 16;   // floats per Vector512

    /// <summary>Off: decoding uses libtorch's own ops, products and attention (the bench compares the two).</summary>
    public static bool Enabled { get; set; } = true;

    private static readonly RowKernel Kernel = new();

    [ThreadStatic] private static int _teamThreads;

    /// <summary>Threads the team has inside <see cref="TeamOnly"/> on this thread; 0 outside.</summary>
    public static int TeamThreads => _teamThreads;

    /// <summary>
    /// For a decode step whose products are all one-row (batch 1): until disposed, libtorch runs on
    /// the calling thread alone and the products use all of its threads through the team. After a
    /// parallel op libgomp's worker spins for a while on its core; a team worker would share that
    /// core and halve its product's speed. Restores the thread count when disposed.
    /// </summary>
    public static TeamScope TeamOnly() => Enabled && _teamThreads == 0 ? new(get_num_threads()) : default;

    /// <summary>See <see cref="TeamOnly"/> (a nested scope, or one with the kernels off, changes nothing).</summary>
    public readonly struct TeamScope : IDisposable
    {
        private readonly int _threads;

        internal TeamScope(int threads)
        {
            _threads = _teamThreads = threads;
            if (threads > 1) set_num_threads(1);
        }

        public void Dispose()
        {
            if (_threads == 0) return;
            _teamThreads = 0;
            if (_threads > 1) set_num_threads(_threads);
        }
    }

    /// <summary><paramref name="module"/>'s output, split across threads when <paramref name="x"/> is one row of a plain Linear on the CPU without autograd.</summary>
    public static Tensor Forward(nn.Module<Tensor, Tensor> module, Tensor x) =>
        module is Linear linear && Applies(x, linear.weight!) ? Apply(x, linear.weight!, linear.bias) : module.forward(x);

    /// <summary>
    /// The outputs of several layers reading the same row (q, k, v; gate, up) as one job for the team:
    /// one hand-off instead of one per product, each output the bits <see cref="Forward(nn.Module{Tensor, Tensor}, Tensor)"/> gives.
    /// </summary>
    public static Tensor[] Forward(Tensor x, params nn.Module<Tensor, Tensor>[] modules)
    {
        if (!modules.All(m => m is Linear l && Applies(x, l.weight!) && KernelTakes(l.weight!, l.bias)))
            return modules.Select(m => Forward(m, x)).ToArray();
        var linears = modules.Cast<Linear>().ToArray();
        var outputs = linears.Select(l => empty(OutputShape(x, l.weight!), float32)).ToArray();
        using var row = x.contiguous();
        Kernel.Run(Team, row, linears.Select(l => ((Tensor)l.weight!, (Tensor?)l.bias)).ToArray(), outputs);
        return outputs;
    }

    /// <summary>x Wᵀ (+ b), split across threads when <paramref name="x"/> is one row on the CPU without autograd.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        Applies(x, weight) ? Apply(x, weight, bias) : nn.functional.linear(x, weight, bias);

    private static WorkerTeam Team => WorkerTeam.Of(_teamThreads > 0 ? _teamThreads : get_num_threads());

    private static bool KernelTakes(Tensor weight, Tensor? bias) =>
        RowKernel.Fits(weight) && (bias is null || (bias.dtype == ScalarType.Float32 && bias.is_contiguous()));

    private static long[] OutputShape(Tensor x, Tensor weight)
    {
        var shape = (long[])x.shape.Clone();
        shape[^1] = weight.shape[0];
        return shape;
    }

    private static bool Applies(Tensor x, Tensor weight) =>
        Enabled && x.device.type == TorchSharp.DeviceType.CPU && x.NumberOfElements == weight.shape[1] && x.dtype == weight.dtype
        && !(is_grad_enabled() && (x.requires_grad || weight.requires_grad)) && weight.is_contiguous()
        && (RowKernel.Fits(weight) || BmmBlocks(weight) > 1);

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        var shape = OutputShape(x, weight);
        if (!KernelTakes(weight, bias)) return BmmSplit(x, weight, bias, shape);
        var y = empty(shape, float32);
        using var row = x.contiguous();
        Kernel.Run(Team, row, [(weight, bias)], [y]);
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

    /// <summary>A contiguous tensor's first float. Tensor memory is native (never moved by the GC), so its address can be kept without pinning.</summary>
    internal static float* Data(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>w · x for <paramref name="cols"/> a multiple of 16, read front to back with four AVX-512 accumulators (the decode kernels' one dot product).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(float* w, float* x, int cols)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        int c = 0, wide = cols & ~(4 * Lanes - 1);
        for (; c < wide; c += 4 * Lanes)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + c), Vector512.Load(x + c), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + c + Lanes), Vector512.Load(x + c + Lanes), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + c + 2 * Lanes), Vector512.Load(x + c + 2 * Lanes), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + c + 3 * Lanes), Vector512.Load(x + c + 3 * Lanes), a3);
        }
        for (; c < cols; c += Lanes)
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + c), Vector512.Load(x + c), a0);
        return Vector512.Sum((a0 + a1) + (a2 + a3));
    }

    /// <summary>
    /// y_i = W_i x (+ b_i) for one row x and one or more weights of its width: their rows, taken as
    /// one list, split into one contiguous block per thread (multiples of four). One instance, its
    /// fields set under a lock for each job, so a job allocates nothing but its outputs.
    /// </summary>
    private sealed class RowKernel
    {
        private readonly Action<int> _part;
        private readonly RowShares _shares = new();
        private readonly Product[] _products = new Product[4];
        private float* _x;
        private int _count, _rows, _cols, _parts;

        private struct Product { public float* W, B, Y; public int Rows; }

        public RowKernel() => _part = Part;

        /// <summary>fp32, contiguous, rows a multiple of 16 floats, addressable as one span, on a machine with AVX-512.</summary>
        public static bool Fits(Tensor t) =>
            Vector512.IsHardwareAccelerated && t.dtype == ScalarType.Float32 && t.is_contiguous()
            && t.shape[^1] % Lanes == 0 && t.NumberOfElements * sizeof(float) <= int.MaxValue;

        public void Run(WorkerTeam team, Tensor x, (Tensor Weight, Tensor? Bias)[] layers, Tensor[] outputs)
        {
            lock (this)
            {
                if (layers.Length > _products.Length) throw new ArgumentException($"at most {_products.Length} products in one job");
                _x = Data(x);
                (_count, _cols, _rows) = (layers.Length, (int)x.shape[^1], 0);
                for (int i = 0; i < layers.Length; i++)
                {
                    var (w, b) = layers[i];
                    _products[i] = new Product { W = Data(w), B = b is null ? null : Data(b), Y = Data(outputs[i]), Rows = (int)w.shape[0] };
                    _rows += _products[i].Rows;
                }
                // Small jobs on one thread: waking a worker costs more than the rows.
                _parts = (long)_rows * _cols < 64 * 1024 ? 1 : team.Size;
                _shares.Deal(_rows, _parts);
                if (_parts == 1) Part(0); else team.Run(_part);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // a kernel: fully optimised from the first call, no tiering
        private void Part(int part)
        {
            if (part >= _parts) return;
            while (_shares.Take(part, RowShares.ChunkRows(_cols), out int r0, out int r1))
                for (int i = 0, first = 0; i < _count && first < r1; first += _products[i].Rows, i++)
                {
                    var p = _products[i];
                    for (int r = Math.Max(r0, first) - first, end = Math.Min(r1, first + p.Rows) - first; r < end; r++)
                    {
                        float dot = Dot(p.W + (long)r * _cols, _x, _cols);
                        p.Y[r] = p.B is null ? dot : dot + p.B[r];
                    }
                }
        }
    }
}
