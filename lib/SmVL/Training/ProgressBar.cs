using System.Diagnostics;

namespace SmVL.Training;

/// <summary>
/// A one-line terminal progress bar (or a line every ~5% when output is redirected). Bars reporting
/// at the same time (the two parents pretraining side by side) share the line, one compact field each.
/// </summary>
public sealed class ProgressBar
{
    private static readonly List<ProgressBar> Active = new();
    private readonly long _total, _start;
    private readonly string _label;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private long _lastPrinted = -1;
    private string _field = "";

    public ProgressBar(string label, long total, long start = 0) { _label = label; _total = total; _start = start; }

    public void Report(long done, string status)
    {
        double rate = (done - _start) / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
        double eta = rate > 0 ? (_total - done) / rate : 0;
        string line;
        lock (Active)
        {
            if (!Active.Contains(this)) Active.Add(this);
            int width = Active.Count > 1 ? 10 : 24, filled = (int)(width * done / Math.Max(1, _total));
            _field = $"{_label} [{new string('#', filled)}{new string('.', width - filled)}] {done}/{_total} {status} {rate:F2} it/s ETA {TimeSpan.FromSeconds(eta):mm\\:ss}";
            line = string.Join(" | ", Active.Select(b => b._field));
            if (done == _total) Active.Remove(this);
            if (_interactive) Console.Error.Write("\r" + line.PadRight(Console.BufferWidth > 0 ? Math.Min(Console.BufferWidth - 1, 200) : 120));
            else if (done == _total || done - _lastPrinted >= Math.Max(1, _total / 20)) { Console.Error.WriteLine(_field); _lastPrinted = done; }
            if (done == _total && _interactive) Console.Error.WriteLine();
        }
    }
}
