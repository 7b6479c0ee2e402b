using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Models;

/// <summary>
/// A decode step's whole decoder stack (one new token of one sequence) as a single job on the
/// <see cref="WorkerTeam"/>: per layer, RMSNorm, the q/k/v products, the attention of
/// <see cref="DecodeAttention.KvHead"/>, o_proj with the residual add, RMSNorm, gate/up with SiLU·up,
/// down with the residual add — the threads meeting at a barrier between phases instead of handing
/// back to libtorch a dozen times per layer. The weights stream as in <see cref="RowParallelLinear"/>
/// (the same dot product, so each product's bits are its own), the norms and SiLU are
/// computed here (float32 rounding apart from libtorch's). Each thread keeps its own copy of a
/// normalised row, so only the products and the attention need a barrier after them. A phase's rows
/// (kv heads for the attention) are shared as <see cref="RowShares"/>, so a thread slowed down by the
/// machine does not hold the rest at the barrier; each row is still computed whole by one thread, so
/// the bits do not depend on which.
/// Applies inside <see cref="RowParallelLinear.TeamOnly"/> to fp32 plain-Linear stacks on the CPU
/// (not LoRA-wrapped), widths a multiple of 16, on machines with AVX-512.
/// </summary>
public static unsafe class DecodeStack
{
    private const int Lanes = 16;

    private static readonly Kernel Instance = new();

    /// <summary>Off: each layer runs on its own (<see cref="RowParallelLinear"/>'s products and <see cref="DecodeAttention"/>), as the tests and the bench compare.</summary>
    public static bool Enabled { get; set; } = true;

    /// <summary>Whether <see cref="Step"/> takes this forward: one token of one sequence, no mask, a cache, fp32 plain layers.</summary>
    public static bool Applies(Qwen3Model model, Tensor embeds, Tensor? mask, KvCache? cache) =>
        Enabled && cache is not null && mask is null && RowParallelLinear.TeamThreads > 0 && Vector512.IsHardwareAccelerated
        && embeds.shape[0] == 1 && embeds.shape[1] == 1 && embeds.dtype == ScalarType.Float32 && embeds.device.type == TorchSharp.DeviceType.CPU
        && !(is_grad_enabled() && embeds.requires_grad)
        && model.Config.HiddenSize % Lanes == 0 && model.Config.HeadDim % Lanes == 0 && model.Config.IntermediateSize % Lanes == 0
        && model.layers.All(l => new[] { l.self_attn.q_proj, l.self_attn.k_proj, l.self_attn.v_proj, l.self_attn.o_proj, l.mlp.gate_proj, l.mlp.up_proj, l.mlp.down_proj }
            .All(m => m is Linear linear && Plain(linear.weight!) && (linear.bias is null || Plain(linear.bias))));

    private static bool Plain(Tensor t) =>
        t.dtype == ScalarType.Float32 && t.is_contiguous() && t.device.type == TorchSharp.DeviceType.CPU
        && !(is_grad_enabled() && t.requires_grad) && t.NumberOfElements * sizeof(float) <= int.MaxValue;

    /// <summary>The residual stream after the last layer (1, 1, hidden), before the final norm; the cache holds the token afterwards.</summary>
    /// <param name="cos">(1, 1, D) of the token's position</param>
    public static Tensor Step(Qwen3Model model, Tensor embeds, Tensor cos, Tensor sin, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var c = model.Config;
        int heads = c.NumAttentionHeads, kvHeads = c.KeyValueHeads, dim = c.HeadDim;
        var x = embeds.reshape(1, 1, c.HiddenSize).clone();      // the residual stream, updated in place
        var like = empty(new long[] { 1, kvHeads, 1, dim }, float32);
        var cosRow = cos.to(float32).contiguous();
        var sinRow = sin.to(float32).contiguous();
        var layers = new Layer[model.layers.Count];
        int position = 0, capacity = 0;
        for (int i = 0; i < layers.Length; i++)
        {
            var layer = model.layers[i];
            var a = layer.self_attn;
            var (keys, values, at) = cache.Reserve(i, like);
            (position, capacity) = ((int)at, Math.Max(capacity, (int)keys.shape[2]));
            layers[i] = new Layer
            {
                Q = Of(a.q_proj), K = Of(a.k_proj), V = Of(a.v_proj), O = Of(a.o_proj),
                Gate = Of(layer.mlp.gate_proj), Up = Of(layer.mlp.up_proj), Down = Of(layer.mlp.down_proj),
                InputNorm = RowParallelLinear.Data(layer.input_layernorm.weight), InputEps = (float)layer.input_layernorm.Eps,
                PostNorm = RowParallelLinear.Data(layer.post_attention_layernorm.weight), PostEps = (float)layer.post_attention_layernorm.Eps,
                QNorm = a.q_norm is null ? null : RowParallelLinear.Data(a.q_norm.weight), QEps = (float)(a.q_norm?.Eps ?? 0),
                KNorm = a.k_norm is null ? null : RowParallelLinear.Data(a.k_norm.weight), KEps = (float)(a.k_norm?.Eps ?? 0),
                Keys = RowParallelLinear.Data(keys), Values = RowParallelLinear.Data(values), Capacity = (int)keys.shape[2],
            };
        }
        Instance.Run(WorkerTeam.Of(RowParallelLinear.TeamThreads), new Shape(c.HiddenSize, heads, kvHeads, dim, c.IntermediateSize, position, capacity),
                     layers, RowParallelLinear.Data(x), RowParallelLinear.Data(cosRow), RowParallelLinear.Data(sinRow));
        return x.MoveToOuterDisposeScope();
    }

    private static Product Of(nn.Module<Tensor, Tensor> module)
    {
        var linear = (Linear)module;
        return new Product { W = RowParallelLinear.Data(linear.weight!), B = linear.bias is null ? null : RowParallelLinear.Data(linear.bias), Rows = (int)linear.weight!.shape[0], Cols = (int)linear.weight.shape[1] };
    }

    private struct Product { public float* W, B; public int Rows, Cols; }

    private struct Layer
    {
        public Product Q, K, V, O, Gate, Up, Down;
        public float* InputNorm, PostNorm, QNorm, KNorm, Keys, Values;
        public float InputEps, PostEps, QEps, KEps;
        public int Capacity;
    }

    private readonly record struct Shape(int Hidden, int Heads, int KvHeads, int Dim, int Intermediate, int Position, int Capacity);

    private sealed class Kernel
    {
        private readonly Action<int> _part;
        private Layer[] _layers = [];
        private Shape _shape;
        private float* _x, _cos, _sin;
        private int _parts, _arrived, _phase;
        private readonly RowShares _shares = new();
        // shared between the threads: the attention's inputs and output, the residual after attention, SiLU(gate)·up
        private float[] _q = [], _k = [], _v = [], _attention = [], _h = [], _act = [];
        private float[][] _normed = [], _scratch = [];    // per part

        public Kernel() => _part = Part;

        public void Run(WorkerTeam team, Shape shape, Layer[] layers, float* x, float* cos, float* sin)
        {
            lock (this)
            {
                (_shape, _layers, _parts) = (shape, layers, team.Size);
                _x = x; _cos = cos; _sin = sin;
                Size(ref _q, shape.Heads * shape.Dim);
                Size(ref _k, shape.KvHeads * shape.Dim);
                Size(ref _v, shape.KvHeads * shape.Dim);
                Size(ref _attention, shape.Heads * shape.Dim);
                Size(ref _h, shape.Hidden);
                Size(ref _act, shape.Intermediate);
                if (_normed.Length < _parts || _normed[0].Length < shape.Hidden)
                    _normed = Enumerable.Range(0, _parts).Select(_ => new float[shape.Hidden]).ToArray();
                int scratch = DecodeAttention.ScratchFloats(shape.Heads, shape.KvHeads, shape.Dim, shape.Capacity);
                if (_scratch.Length < _parts || _scratch[0].Length < scratch)
                    _scratch = Enumerable.Range(0, _parts).Select(_ => new float[scratch]).ToArray();
                _arrived = 0;
                _shares.Deal(QkvRows(shape), _parts);
                try
                {
                    if (_parts == 1) Part(0); else team.Run(_part);
                }
                finally { _layers = []; }
            }
        }

        private static void Size(ref float[] buffer, int length)
        {
            if (buffer.Length < length) buffer = new float[length];
        }

        private static int QkvRows(Shape s) => (s.Heads + 2 * s.KvHeads) * s.Dim;

        /// <summary>
        /// Every part waits here until all have arrived (a spin barrier: a phase is far shorter than a sleeping
        /// thread takes to wake); the last to arrive deals out the next phase's <paramref name="rows"/> first.
        /// </summary>
        private void Barrier(int rows)
        {
            if (_parts == 1) { _shares.Deal(rows, 1); return; }
            int phase = Volatile.Read(ref _phase);
            if (Interlocked.Increment(ref _arrived) == _parts)
            {
                _shares.Deal(rows, _parts);
                _arrived = 0;
                Volatile.Write(ref _phase, phase + 1);
            }
            else
                while (Volatile.Read(ref _phase) == phase) Thread.SpinWait(1);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // a kernel: fully optimised from the first call, no tiering
        private void Part(int part)
        {
            var s = _shape;
            fixed (float* q = _q, k = _k, v = _v, attention = _attention, h = _h, act = _act, normed = _normed[part], scratch = _scratch[part])
            {
                foreach (ref readonly var layer in _layers.AsSpan())
                {
                    // attention: h = x + o_proj(attention(norm(x)))
                    RmsNorm(_x, layer.InputNorm, layer.InputEps, normed, s.Hidden);
                    int qRows = layer.Q.Rows, kRows = layer.K.Rows;
                    while (_shares.Take(part, RowShares.ChunkRows(s.Hidden), out int r0, out int r1))
                        for (int r = r0; r < r1; r++)
                        {
                            if (r < qRows) q[r] = Row(in layer.Q, r, normed);
                            else if (r < qRows + kRows) k[r - qRows] = Row(in layer.K, r - qRows, normed);
                            else v[r - qRows - kRows] = Row(in layer.V, r - qRows - kRows, normed);
                        }
                    Barrier(s.KvHeads);
                    var inputs = new DecodeAttention.Inputs
                    {
                        Q = q, K = k, V = v, QNorm = layer.QNorm, KNorm = layer.KNorm, QEps = layer.QEps, KEps = layer.KEps,
                        Cos = _cos, Sin = _sin, Keys = layer.Keys, Values = layer.Values, Out = attention,
                        Heads = s.Heads, KvHeads = s.KvHeads, Dim = s.Dim, Position = s.Position, Capacity = layer.Capacity,
                    };
                    while (_shares.Take(part, 1, out int kv, out _)) DecodeAttention.KvHead(in inputs, kv, scratch);
                    Barrier(s.Hidden);
                    while (_shares.Take(part, RowShares.ChunkRows(layer.O.Cols), out int r0, out int r1))
                        for (int r = r0; r < r1; r++) h[r] = _x[r] + Row(in layer.O, r, attention);
                    Barrier(s.Intermediate);

                    // MLP: x = h + down(silu(gate(norm(h))) · up(norm(h)))
                    RmsNorm(h, layer.PostNorm, layer.PostEps, normed, s.Hidden);
                    while (_shares.Take(part, RowShares.ChunkRows(s.Hidden), out int r0, out int r1))
                    {
                        // the chunk's gate rows, then its up rows: one weight streamed at a time
                        for (int r = r0; r < r1; r++) act[r] = Row(in layer.Gate, r, normed);
                        for (int r = r0; r < r1; r++)
                        {
                            float gate = act[r];
                            act[r] = gate / (1 + MathF.Exp(-gate)) * Row(in layer.Up, r, normed);
                        }
                    }
                    Barrier(s.Hidden);
                    while (_shares.Take(part, RowShares.ChunkRows(s.Intermediate), out int r0, out int r1))
                        for (int r = r0; r < r1; r++) _x[r] = h[r] + Row(in layer.Down, r, act);
                    Barrier(QkvRows(s));
                }
            }
        }

        private static float Row(in Product p, int r, float* x)
        {
            float dot = RowParallelLinear.Dot(p.W + (long)r * p.Cols, x, p.Cols);
            return p.B is null ? dot : dot + p.B[r];
        }

        /// <summary>HF's RMSNorm: x · rsqrt(mean x² + ε), then · w.</summary>
        private static void RmsNorm(float* x, float* weight, float eps, float* output, int n)
        {
            float r = 1 / MathF.Sqrt(RowParallelLinear.Dot(x, x, n) / n + eps);
            int i = 0;
            var scale = Vector512.Create(r);
            for (; i < n; i += Lanes) (Vector512.Load(x + i) * scale * Vector512.Load(weight + i)).Store(output + i);
        }
    }
}
