using LLama.Native;

namespace SmVL.Export;

/// <summary>
/// llama.cpp's native library as SmVL uses it (LLamaSharp, CPU): loaded once, its log routed here —
/// progress chatter dropped, the last warning or error kept so a failure can name what llama.cpp
/// objected to in one line.
/// </summary>
public static class LlamaCpp
{
    private static int _started;

    public static string? LastProblem { get; private set; }

    /// <summary>
    /// Route the log, then load the library: LLamaSharp picks the build for this CPU (AVX level) on
    /// the first call through NativeApi, which some entry points (the quantizer's defaults) bypass.
    /// </summary>
    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) return;
        NativeLogConfig.llama_log_set((level, message) =>
        {
            if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error) LastProblem = message.Trim();
        });
        NativeApi.llama_empty_call();
    }
}
