using System.Diagnostics;

namespace SmVL.Training;

/// <summary>A one-line terminal progress bar (or a line every ~5% when output is redirected).</summary>
public sealed class ProgressBar
{
    private readonly long _total, _start;
    private readonly string _label;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private long _lastPrinted = -1;

    public ProgressBar(string label, long total, long start = 0) { _label = label; _total = total; _start = start; }

    public void Report(long done, string status)
    {
        double rate = (done - _start) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        double eta = rate > 0 ? (_total - done) / rate : 0;
        int width = 24, filled = (int)(width * done / Math.Max(1, _total));
        string line = $"{_label} [{new string('#', filled)}{new string('.', width - filled)}] {done}/{_total} {status} {rate:F2} it/s ETA {TimeSpan.FromSeconds(eta):mm\\:ss}";
        if (_interactive) Console.Error.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 160) : 120));
        else if (done == _total || done - _lastPrinted >= Math.Max(1, _total / 20)) { Console.Error.WriteLine(line); _lastPrinted = done; }
        if (done == _total && _interactive) Console.Error.WriteLine();
    }
}
