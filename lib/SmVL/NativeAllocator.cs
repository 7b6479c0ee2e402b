using System.Runtime.InteropServices;

namespace SmVL;

/// <summary>
/// glibc's malloc serves blocks above its mmap threshold (32 MB at most) with fresh pages and unmaps
/// them on free, so every training step that builds logits over Qwen3's 151,936-token vocabulary
/// would fault in and zero its pages again. Serving all blocks from the heap and trimming it only
/// above 1 GB of free top lets the next step reuse them. Threads other than the first get heaps of
/// at most 64 MB, which glibc unmaps once they fall empty; a top pad of a whole heap keeps them
/// (blocks larger than a heap are still mapped afresh on those threads, and every unmap stalls the
/// process's other threads: <see cref="Training.CausalLMLoss"/> keeps its logits below that size).
/// docs/performance.md has what each of these cost. Opt-in (<see cref="Enable"/>: the CLI, the
/// benchmarks and the tests call it first thing, the notebooks' tiny world before it trains), since it
/// changes malloc for the whole process, a notebook kernel included; MALLOC_* environment variables
/// set by the user take precedence. The price: freed blocks stay resident, so after a large job
/// (a full-size run) call <see cref="Release"/>.
/// </summary>
public static partial class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_MAX = -4, M_TOP_PAD = -2;

    /// <summary>Serve large blocks from the heap from now on (call before the big allocations start).</summary>
    public static void Enable()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariables().Keys.Cast<string>().Any(k => k.StartsWith("MALLOC_"))) return;
        try
        {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_TOP_PAD, 64 << 20);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }   // not glibc (e.g. musl)
    }

    /// <summary>
    /// Hands every free page back to the OS: collects unreachable tensors (their finalizers free
    /// native memory), then malloc_trim, which also releases free pages in the middle of the heap.
    /// Without it a process that once ran a full-size model keeps its peak resident.
    /// </summary>
    public static void Release()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (!OperatingSystem.IsLinux()) return;
        try { malloc_trim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
