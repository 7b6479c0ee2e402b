namespace SmVL.Training;

/// <summary>Learning-rate schedules as pure functions of the optimizer step (HF semantics).</summary>
public static class Schedules
{
    /// <summary>HF get_cosine_schedule_with_warmup: linear 0→peak over warmup, then cosine to 0.</summary>
    public static double Cosine(long step, long warmup, long total, double peak)
    {
        if (step < warmup) return peak * step / Math.Max(1, warmup);
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        return peak * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }

    /// <summary>HF get_linear_schedule_with_warmup: linear 0→peak over warmup, then linear to 0.</summary>
    public static double Linear(long step, long warmup, long total, double peak)
    {
        if (step < warmup) return peak * step / Math.Max(1, warmup);
        return peak * Math.Max(0.0, (double)(total - step) / Math.Max(1, total - warmup));
    }

    public static double Constant(long step, long warmup, long total, double peak) =>
        step < warmup ? peak * step / Math.Max(1, warmup) : peak;

    public static Func<long, double> Create(string kind, long warmup, long total, double peak) => kind switch
    {
        "cosine" => s => Cosine(s, warmup, total, peak),
        "linear" => s => Linear(s, warmup, total, peak),
        "constant" => s => Constant(s, warmup, total, peak),
        _ => throw new ArgumentException($"unknown lr schedule '{kind}' (cosine, linear, constant)"),
    };
}
