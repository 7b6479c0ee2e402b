using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// The attention of one new token (batch 1, no mask) between its q/k/v projections and o_proj, as
/// one job on the <see cref="WorkerTeam"/> that runs the decode step's products: what
/// <see cref="Qwen3Attention"/> otherwise does in some twenty libtorch calls per layer. The kv heads
/// are split across the threads; for each, its thread RMS-normalises and rotates the new key (q_norm /
/// k_norm, RoPE) straight into the cache with its value, does the same for the group's query heads,
/// then reads the cached keys once for the whole group (scores = q·k / √D), takes the softmax over
/// the positions, and reads the values once (out = Σ p v). Float32, with a summation order of its own
/// (within float32 rounding of libtorch's path, not its bits). For fp32 on the CPU with head dims a
/// multiple of 16, on machines with AVX-512, inside <see cref="RowParallelLinear.TeamOnly"/>.
/// </summary>
public static unsafe class DecodeAttention
{
    private const int Lanes = 16;
    private static readonly Kernel Instance = new();

    /// <summary>Whether <see cref="Step"/> takes this step: one token of one sequence, fp32 on the CPU, and a team to run on.</summary>
    public static bool Applies(Tensor q, int headDim) =>
        RowParallelLinear.TeamThreads > 0 && q.shape[0] == 1 && q.shape[1] == 1 && q.dtype == ScalarType.Float32
        && q.device.type == TorchSharp.DeviceType.CPU && headDim % Lanes == 0 && Vector512.IsHardwareAccelerated;

    /// <param name="q">(1, 1, H·D): q_proj's output</param>
    /// <param name="k">(1, 1, Hkv·D): k_proj's output</param>
    /// <param name="v">(1, 1, Hkv·D): v_proj's output</param>
    /// <param name="qNorm">q_norm (Qwen3) or null (Llama: no per-head norm)</param>
    /// <param name="cos">(1, 1, D) of the token's position, as <see cref="RotaryEmbedding.Compute"/> gives</param>
    /// <returns>(1, 1, H·D): the heads' outputs side by side, o_proj's input</returns>
    public static Tensor Step(Tensor q, Tensor k, Tensor v, RMSNorm? qNorm, RMSNorm? kNorm, Tensor cos, Tensor sin,
                              KvCache cache, int layer, int heads, int kvHeads, int headDim)
    {
        using var scope = NewDisposeScope();
        var (keys, values, position) = cache.Reserve(layer, k.view(1, kvHeads, 1, headDim));
        var output = empty(q.shape, float32);
        Instance.Run(WorkerTeam.Of(RowParallelLinear.TeamThreads), new Inputs
        {
            Q = RowParallelLinear.Data(q.contiguous()), K = RowParallelLinear.Data(k.contiguous()), V = RowParallelLinear.Data(v.contiguous()),
            QNorm = qNorm is null ? null : RowParallelLinear.Data(qNorm.weight), KNorm = kNorm is null ? null : RowParallelLinear.Data(kNorm.weight),
            QEps = (float)(qNorm?.Eps ?? 0), KEps = (float)(kNorm?.Eps ?? 0),
            Cos = RowParallelLinear.Data(cos.to(float32).contiguous()), Sin = RowParallelLinear.Data(sin.to(float32).contiguous()),
            Keys = RowParallelLinear.Data(keys), Values = RowParallelLinear.Data(values), Out = RowParallelLinear.Data(output),
            Heads = heads, KvHeads = kvHeads, Dim = headDim, Position = (int)position, Capacity = (int)keys.shape[2],
        });
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>One layer's attention inputs for <see cref="KvHead"/>: the new token's q/k/v, the norms, the rotary angles, the layer's cache buffers.</summary>
    internal struct Inputs
    {
        public float* Q, K, V, QNorm, KNorm, Cos, Sin, Keys, Values, Out;
        public float QEps, KEps;
        public int Heads, KvHeads, Dim, Position, Capacity;
    }

    private sealed class Kernel
    {
        private readonly Action<int> _part;
        private Inputs _in;
        private int _parts;
        private float[][] _scratch = [];     // per part: the group's rotated queries, then their scores

        public Kernel() => _part = Part;

        public void Run(WorkerTeam team, Inputs inputs)
        {
            lock (this)
            {
                _in = inputs;
                _parts = Math.Min(team.Size, inputs.KvHeads);
                int need = ScratchFloats(inputs.Heads, inputs.KvHeads, inputs.Dim, inputs.Position + 1);
                if (_scratch.Length < _parts || _scratch[0].Length < need)
                    _scratch = Enumerable.Range(0, _parts).Select(_ => new float[Math.Max(need, ScratchFloats(inputs.Heads, inputs.KvHeads, inputs.Dim, 2 * inputs.Capacity))]).ToArray();
                if (_parts == 1) Part(0); else team.Run(_part);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // a kernel: fully optimised from the first call, no tiering
        private void Part(int part)
        {
            if (part >= _parts) return;
            fixed (float* scratch = _scratch[part])
                for (int h = part; h < _in.KvHeads; h += _parts) KvHead(in _in, h, scratch);
        }
    }

    /// <summary>How far ahead of the key being read the next keys are fetched (8 rows: 4 KB at Qwen3's head size).</summary>
    private const int PrefetchRows = 8;

    /// <summary>Floats of scratch <see cref="KvHead"/> needs for a cache of <paramref name="capacity"/> positions.</summary>
    internal static int ScratchFloats(int heads, int kvHeads, int dim, int capacity) => heads / kvHeads * (dim + capacity);

    /// <summary>
    /// Kv head <paramref name="h"/>: its new key and value into the cache, then its group's query heads'
    /// outputs. <paramref name="scratch"/> holds <see cref="ScratchFloats"/> floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void KvHead(in Inputs a, int h, float* scratch)
    {
        int group = a.Heads / a.KvHeads, dim = a.Dim, length = a.Position + 1;
        float scale = 1 / MathF.Sqrt(dim);
        float* queries = scratch, scores = scratch + group * dim;
        float* keys = a.Keys + (long)h * a.Capacity * dim, values = a.Values + (long)h * a.Capacity * dim;
        NormRope(a.K + h * dim, a.KNorm, a.KEps, a.Cos, a.Sin, keys + (long)a.Position * dim, dim);
        new ReadOnlySpan<float>(a.V + h * dim, dim).CopyTo(new Span<float>(values + (long)a.Position * dim, dim));
        for (int g = 0; g < group; g++)
            NormRope(a.Q + (h * group + g) * dim, a.QNorm, a.QEps, a.Cos, a.Sin, queries + g * dim, dim);

        // scores[g, s] = q_g · k_s / √D: each key read once for the group, two queries per load. Meanwhile the keys
        // a few rows ahead are fetched into L1 and each value row into L2 (a prefetch past the buffer's end does not
        // fault): one head's cache is too short a stream for the hardware prefetcher to reach full speed on, and the
        // values are read right after.
        for (int s = 0; s < length; s++)
        {
            float* key = keys + (long)s * dim, ahead = key + PrefetchRows * dim, value = values + (long)s * dim;
            for (int c = 0; c < dim; c += Lanes)
            {
                Sse.Prefetch0(ahead + c);
                Sse.Prefetch1(value + c);
            }
            int g = 0;
            for (; g + 1 < group; g += 2)
            {
                var (first, second) = Dot2(queries + g * dim, queries + (g + 1) * dim, key, dim);
                scores[g * length + s] = first * scale;
                scores[(g + 1) * length + s] = second * scale;
            }
            if (g < group) scores[g * length + s] = RowParallelLinear.Dot(queries + g * dim, key, dim) * scale;
        }
        for (int g = 0; g < group; g++) Softmax(scores + g * length, length);

        // out_g = Σ_s p_g[s] v_s, 64 columns at a time with the sums in registers
        for (int g = 0; g < group; g++)
            WeightedSum(scores + g * length, values, length, dim, a.Out + (long)(h * group + g) * dim);
    }

    /// <summary>output = Σ_s p[s] · values[s], for rows of <paramref name="dim"/> floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum(float* p, float* values, int length, int dim, float* output)
    {
        int c = 0;
        for (; c + 4 * Lanes <= dim; c += 4 * Lanes)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int s = 0; s < length; s++)
            {
                float* v = values + (long)s * dim + c;
                var w = Vector512.Create(p[s]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), w, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + Lanes), w, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 2 * Lanes), w, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 3 * Lanes), w, a3);
            }
            a0.Store(output + c); a1.Store(output + c + Lanes); a2.Store(output + c + 2 * Lanes); a3.Store(output + c + 3 * Lanes);
        }
        for (; c < dim; c += Lanes)
        {
            Vector512<float> a0 = default;
            for (int s = 0; s < length; s++)
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(values + (long)s * dim + c), Vector512.Create(p[s]), a0);
            a0.Store(output + c);
        }
    }

    /// <summary>HF's RMSNorm (x · rsqrt(mean x² + ε), then · w) and rotate-half RoPE (x·cos + rotate_half(x)·sin) of one head.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NormRope(float* x, float* weight, float eps, float* cos, float* sin, float* output, int dim)
    {
        float r = weight is null ? 1 : 1 / MathF.Sqrt(RowParallelLinear.Dot(x, x, dim) / dim + eps);
        int half = dim / 2;
        for (int i = 0; i < half; i++)
        {
            float lo = x[i] * r, hi = x[i + half] * r;
            if (weight is not null) { lo *= weight[i]; hi *= weight[i + half]; }
            output[i] = lo * cos[i] + -hi * sin[i];
            output[i + half] = hi * cos[i + half] + lo * sin[i + half];
        }
    }

    /// <summary>(a · k, b · k) for <paramref name="dim"/> a multiple of 16: k read once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float, float) Dot2(float* a, float* b, float* k, int dim)
    {
        Vector512<float> a0 = default, a1 = default, b0 = default, b1 = default;
        int c = 0;
        for (; c + 2 * Lanes <= dim; c += 2 * Lanes)
        {
            var k0 = Vector512.Load(k + c);
            var k1 = Vector512.Load(k + c + Lanes);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + c), k0, a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + c + Lanes), k1, a1);
            b0 = Vector512.FusedMultiplyAdd(Vector512.Load(b + c), k0, b0);
            b1 = Vector512.FusedMultiplyAdd(Vector512.Load(b + c + Lanes), k1, b1);
        }
        if (c < dim)
        {
            var k0 = Vector512.Load(k + c);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + c), k0, a0);
            b0 = Vector512.FusedMultiplyAdd(Vector512.Load(b + c), k0, b0);
        }
        return (Vector512.Sum(a0 + a1), Vector512.Sum(b0 + b1));
    }

    /// <summary>Softmax of <paramref name="n"/> scores in place, sixteen at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Softmax(float* row, int n)
    {
        int wide = n & ~(Lanes - 1), i = 0;
        var maxes = Vector512.Create(float.NegativeInfinity);
        for (; i < wide; i += Lanes) maxes = Vector512.Max(maxes, Vector512.Load(row + i));
        float max = float.NegativeInfinity;
        for (int l = 0; l < Lanes; l++) max = MathF.Max(max, maxes[l]);
        for (; i < n; i++) max = MathF.Max(max, row[i]);
        var shift = Vector512.Create(max);
        var sums = Vector512<float>.Zero;
        for (i = 0; i < wide; i += Lanes)
        {
            var e = Vector512.Exp(Vector512.Load(row + i) - shift);
            e.Store(row + i);
            sums += e;
        }
        float sum = Vector512.Sum(sums);
        for (; i < n; i++) sum += row[i] = MathF.Exp(row[i] - max);
        var inv = Vector512.Create(1 / sum);
        for (i = 0; i < wide; i += Lanes) (Vector512.Load(row + i) * inv).Store(row + i);
        for (; i < n; i++) row[i] *= inv[0];
    }
}
