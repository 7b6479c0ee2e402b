using System.Diagnostics;
using SmVL.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SmVL.Stitching;

/// <summary>The dtype of the frozen modules: float32, bfloat16, or bfloat16 where it is measured to be faster.</summary>
public enum FrozenDtype { Float32, BFloat16, Auto }

/// <summary>
/// Frozen modules in bfloat16 where the hardware multiplies bf16 natively (CUDA; CPUs with
/// AVX512-BF16 or AMX), float32 elsewhere: the vision tower and the text model (embedding, decoder,
/// tied head) are cast, the connector and its optimizer state stay float32. Only for connector-only
/// training, where nothing in the cast modules trains. The real parents ship in bf16, so for them
/// the cast loses nothing; a float32 parent (the tiny world's) is rounded.
/// </summary>
public static class FrozenPrecision
{
    public static FrozenDtype Parse(string s) => s.ToLowerInvariant() switch
    {
        "float32" or "fp32" => FrozenDtype.Float32,
        "bfloat16" or "bf16" => FrozenDtype.BFloat16,
        "auto" => FrozenDtype.Auto,
        _ => throw new ArgumentException($"unknown frozen dtype '{s}' (float32, bfloat16, auto)"),
    };

    public static string Name(FrozenDtype d) => d switch
    {
        FrozenDtype.Float32 => "float32", FrozenDtype.BFloat16 => "bfloat16", _ => "auto",
    };

    /// <summary>
    /// Whether bf16 is the faster dtype here: on CUDA always; on a CPU when a 1024² bf16 matmul runs at
    /// least 1.5× as fast as float32's. CPUs with bf16 units measure several times faster, CPUs
    /// without them (a slow reference kernel) a hundred times slower, so the margin absorbs noise.
    /// </summary>
    public static bool Bf16IsFaster(Device device, out string evidence)
    {
        if (device.type == DeviceType.CUDA) { evidence = "CUDA"; return true; }
        using var _ = no_grad();
        double fp32 = MatmulSeconds(ScalarType.Float32), bf16 = MatmulSeconds(ScalarType.BFloat16);
        evidence = $"1024² matmul {fp32 / bf16:F2}× as fast in bf16 as in fp32 on this CPU";
        return bf16 * 1.5 <= fp32;
    }

    private static double MatmulSeconds(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var gen = new torch.Generator(0, CPU);
        var a = randn(new long[] { 1024, 1024 }, generator: gen).to(dtype);
        double best = double.MaxValue;
        for (int i = 0; i < 6; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            a.mm(a).Dispose();
            if (i > 0) best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return best;
    }

    /// <summary>Cast the frozen modules per <paramref name="choice"/>; returns the dtype they now have.</summary>
    public static ScalarType Apply(SmolVLMForConditionalGeneration model, FreezePolicy policy, FrozenDtype choice, Device device, Action<string>? log = null)
    {
        if (choice == FrozenDtype.Float32) return ScalarType.Float32;
        if (policy != FreezePolicy.ConnectorOnly)
        {
            if (choice == FrozenDtype.BFloat16)
                throw new ArgumentException($"frozen dtype bfloat16 needs the connector-only policy (with {Freezing.Name(policy)} a cast module would train in bf16)");
            log?.Invoke($"frozen modules stay float32: the {Freezing.Name(policy)} policy trains inside them");
            return ScalarType.Float32;
        }
        if (choice == FrozenDtype.Auto)
        {
            bool faster = Bf16IsFaster(device, out var evidence);
            log?.Invoke($"frozen modules in {(faster ? "bfloat16" : "float32")} ({evidence})");
            if (!faster) return ScalarType.Float32;
        }
        Cast(model, ScalarType.BFloat16);
        return ScalarType.BFloat16;
    }

    /// <summary>The vision tower, the text model and an untied head to <paramref name="dtype"/>; the connector is left as it is.</summary>
    public static void Cast(SmolVLMForConditionalGeneration model, ScalarType dtype)
    {
        model.model.vision_model.to(dtype);
        model.model.text_model.to(dtype);
        model.lm_head?.to(dtype);
    }
}
