using System.Diagnostics;
using System.Runtime.CompilerServices;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace SmVL.Tests;

internal static class TestProcess
{
    /// <summary>The parent of every test run's temp root: /tmp/smvl-tests/&lt;process id&gt;.</summary>
    internal static readonly string TempParent = Path.Combine(Path.GetTempPath(), "smvl-tests");

    /// <summary>
    /// Before any test allocates: the test host allocates as the CLI does (SmVL's allocator setting is
    /// opt-in), and every temp file of the run (the tests', the CLI's and the kernels' they start)
    /// goes under one root that is deleted when the run ends; roots left by runs that were killed are
    /// deleted when the next run starts. A run writes gigabytes there (full-size checkpoints, saved runs).
    /// </summary>
#pragma warning disable CA2255 // an initializer on purpose: before any test allocates or writes
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init()
    {
        NativeAllocator.Enable();
        Directory.CreateDirectory(TempParent);
        foreach (var stale in Directory.GetDirectories(TempParent))
            if (int.TryParse(Path.GetFileName(stale), out int pid) && !IsAlive(pid))
                try { Directory.Delete(stale, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        string root = Path.Combine(TempParent, Environment.ProcessId.ToString());
        Directory.CreateDirectory(root);
        Environment.SetEnvironmentVariable("TMPDIR", root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
    }

    private static bool IsAlive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }
}
