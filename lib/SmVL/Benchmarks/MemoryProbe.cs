namespace SmVL.Benchmarks;

/// <summary>
/// Resident memory of this process from /proc/self/status: VmRSS now and VmHWM, the peak. Writing
/// "5" to /proc/self/clear_refs resets the peak (Linux ≥ 4.0), which gives a peak per bench phase.
/// Off Linux every reading is null.
/// </summary>
public static class MemoryProbe
{
    public static long? CurrentBytes => Read("VmRSS:");
    public static long? PeakBytes => Read("VmHWM:");

    /// <summary>
    /// Start a new peak from the current RSS; false when the kernel refuses (then peaks are since
    /// process start). Freed heap is handed back to the OS first: glibc keeps the 8–32 MB blocks
    /// libtorch frees (they fall under its dynamic mmap threshold), so without the trim a training
    /// phase's ~17 GB would stay resident into the next phase and count as its peak.
    /// </summary>
    public static bool ResetPeak()
    {
        NativeAllocator.Release();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException) { return false; }
    }

    private static long? Read(string field)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return null;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith(field));
        if (line is null) return null;
        var kb = line[field.Length..].Trim().Split(' ')[0];            // "1234 kB"
        return long.Parse(kb) * 1024;
    }
}
