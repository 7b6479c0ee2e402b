using System.Diagnostics;
using System.Runtime.CompilerServices;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace SmVL.Tests;

internal static class TestProcess
{
    /// <summary>
    /// Before any test allocates: the test host allocates as the CLI does (SmVL's allocator setting is
    /// opt-in), and every temp file of the run (the tests', the CLI's and the kernels' they start)
    /// goes under one root that is deleted when the host exits; a root left behind (the runner may stop the
    /// host before its exit handlers finish, or kill it) is deleted when the next run starts. A run writes gigabytes there (full-size checkpoints, saved runs).
    /// </summary>
#pragma warning disable CA2255 // an initializer on purpose: before any test allocates or writes
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init()
    {
        NativeAllocator.Enable();
        string parent = Path.Combine(Path.GetTempPath(), "smvl-tests");   // /tmp/smvl-tests/<process id>
        Directory.CreateDirectory(parent);
        foreach (var stale in Directory.GetDirectories(parent))
            if (int.TryParse(Path.GetFileName(stale), out int pid) && !IsAlive(pid)) TryDelete(stale);
        string root = Path.Combine(parent, Environment.ProcessId.ToString());
        Directory.CreateDirectory(root);
        Environment.SetEnvironmentVariable("TMPDIR", root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private static bool IsAlive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }
}
