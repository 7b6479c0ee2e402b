using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL;

/// <summary>
/// Owned TorchSharp scalars. A number passed where TorchSharp expects a <see cref="Scalar"/>
/// (<c>x * 0.5</c>, <c>add_(g, alpha: a)</c>, <c>arange(n)</c>, even <c>a + b</c> on tensors, which
/// passes alpha = 1) becomes a finalizable native object that nothing keeps alive during the native
/// call: a garbage collection on any thread can let the finalizer free it while libtorch reads it
/// (TorchSharp 0.107; docs/torchsharp-scalars.md has the reproduction). SmVL therefore never converts
/// implicitly (tests/Infrastructure/ImplicitScalarGuardTests fails on it). Constants come from here
/// and live as long as the process; a value that changes every step is made with
/// <c>using var s = value.ToScalar();</c> so its owner disposes it after the call.
/// </summary>
public static class Scalars
{
    private static readonly ConcurrentDictionary<(long bits, bool integral), Scalar> Cache = new();

    public static Scalar Zero { get; } = Of(0L);
    public static Scalar One { get; } = Of(1L);
    public static Scalar Two { get; } = Of(2L);
    /// <summary>The label of positions the loss ignores (HF's -100).</summary>
    public static Scalar IgnoreIndex { get; } = Of(-100L);
    public static Scalar NegativeInfinity { get; } = Of(double.NegativeInfinity);

    /// <summary>
    /// A process-lifetime floating-point constant (a config value such as an eps or a scale). Only
    /// for values from a small set: each distinct value is kept until the process ends.
    /// </summary>
    public static Scalar Of(double value) =>
        Cache.GetOrAdd((BitConverter.DoubleToInt64Bits(value), false), k => BitConverter.Int64BitsToDouble(k.bits).ToScalar());

    /// <summary>A process-lifetime integral constant (a token id, a size from a config).</summary>
    public static Scalar Of(long value) => Cache.GetOrAdd((value, true), k => k.bits.ToScalar());

    /// <summary>`arange(start, stop, step)` (int64 unless told) without implicit scalars: positions, indices.</summary>
    public static Tensor Arange(long start, long stop, long step = 1, Device? device = null, ScalarType dtype = ScalarType.Int64)
    {
        using var from = start.ToScalar();
        using var to = stop.ToScalar();
        using var by = step.ToScalar();
        return arange(from, to, by, dtype: dtype, device: device);
    }
}
