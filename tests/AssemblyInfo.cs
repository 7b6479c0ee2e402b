using System.Runtime.CompilerServices;

[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]

namespace SmVL.Tests;

internal static class TestProcess
{
    /// <summary>The test host allocates as the CLI does (SmVL's allocator setting is opt-in).</summary>
#pragma warning disable CA2255 // an initializer on purpose: before any test allocates
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init() => NativeAllocator.Enable();
}
