using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LLama.Native;

namespace SmVL.Export;

/// <summary>
/// llama.cpp's native libraries as SmVL uses them (LLamaSharp, CPU): loaded once, their logs
/// (llama's and mtmd's) routed here — progress chatter dropped, the last warning or error kept so a
/// failure can name what llama.cpp objected to in one line.
/// </summary>
public static unsafe class LlamaCpp
{
    private static int _started;

    public static string? LastProblem { get; private set; }

    /// <summary>
    /// Route the logs, then load the libraries: LLamaSharp picks the build for this CPU (AVX level) on
    /// the first call through NativeApi, which some entry points (the quantizer's defaults) bypass.
    /// mtmd has its own log, which LLamaSharp does not expose: it is set through libmtmd's exports.
    /// </summary>
    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) return;
        NativeLogConfig.llama_log_set((level, message) => Keep((int)level, message));
        NativeApi.llama_empty_call();
        NativeApi.MtmdDefaultMarker();   // loads libmtmd; the soname below then finds LLamaSharp's copy
        if (NativeLibrary.TryLoad("libmtmd.so", out var mtmd))
            foreach (var setter in new[] { "mtmd_log_set", "mtmd_helper_log_set" })
                if (NativeLibrary.TryGetExport(mtmd, setter, out var set))
                    ((delegate* unmanaged[Cdecl]<delegate* unmanaged[Cdecl]<int, byte*, void*, void>, void*, void>)set)(&MtmdLog, null);
    }

    // ggml_log_level: 3 = warning, 4 = error (the same values as LLamaLogLevel).
    private static void Keep(int level, string message)
    {
        if (level is (int)LLamaLogLevel.Warning or (int)LLamaLogLevel.Error) LastProblem = message.Trim();
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void MtmdLog(int level, byte* text, void* userData) => Keep(level, Marshal.PtrToStringUTF8((IntPtr)text) ?? "");
}
