using System.Runtime.InteropServices;
using SmVL.Benchmarks;
using SmVL.Models;
using Xunit;
using static TorchSharp.torch;

namespace SmVL.Tests.Infrastructure;

public class NativeAllocatorTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2 { public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost; }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 mallinfo2();

    /// <summary>glibc, and no MALLOC_* variable of the user's that the tuning defers to.</summary>
    private static bool Tunable => OperatingSystem.IsLinux() && !Environment.GetEnvironmentVariables().Keys.Cast<string>().Any(k => k.StartsWith("MALLOC_"));

    [Fact]
    public void A_40MB_tensor_comes_from_the_heap_not_from_a_fresh_mapping()
    {
        if (!Tunable) return;
        NativeAllocator.Enable();   // the test assembly's initializer did already; a second call changes nothing
        nuint mappedBefore = mallinfo2().HBlkHd;
        using var big = ones(10_000_000L);   // 40 MB: the size of logits over 151,936 tokens for 66 positions, above glibc's largest mmap threshold
        // Untuned, glibc maps it on its own (HBlkHd grows by 40 MB) and unmaps it on free, so the next
        // step's logits fault in fresh pages.
        Assert.Equal(mappedBefore, mallinfo2().HBlkHd);
    }

    [Fact]
    public void Release_hands_freed_blocks_back_to_the_OS()
    {
        if (!Tunable) return;
        _ = new RMSNorm(4, 1e-6);
        NativeAllocator.Release();
        var blocks = Enumerable.Range(0, 16).Select(_ => ones(10_000_000L)).ToList();   // 640 MB in 40 MB blocks, every page touched
        long held = MemoryProbe.CurrentBytes!.Value;
        foreach (var b in blocks) b.Dispose();
        long freed = MemoryProbe.CurrentBytes!.Value;
        NativeAllocator.Release();
        long released = MemoryProbe.CurrentBytes!.Value;
        // Freed, the blocks stay resident for the next step to reuse (that is the tuning); released, they are gone.
        Assert.True(held - freed < 200_000_000, $"freeing alone gave back {(held - freed) / 1e6:F0} MB");
        Assert.True(freed - released > 500_000_000, $"Release gave back only {(freed - released) / 1e6:F0} MB");
    }
}
