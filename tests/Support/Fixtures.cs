using static TorchSharp.torch;

namespace SmVL.Tests;

/// <summary>Paths to committed fixtures and tensor comparison helpers.</summary>
public static class Fixtures
{
    public static string Dir(params string[] parts) => Path.Combine(new[] { AppContext.BaseDirectory, "fixtures" }.Concat(parts).ToArray());
    public static string ParityA(params string[] parts) => Dir(new[] { "parity", "set-a" }.Concat(parts).ToArray());

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        Xunit.Assert.Equal(b.shape, a.shape);
        using var d = (a.to(float64) - b.to(float64)).abs().max();
        return d.item<double>();
    }

    /// <summary>Same shape and every element equal (bitwise for floats, NaN aside).</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var eq = a.eq(b).all();
        return eq.item<bool>();
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "smvl-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }
}
