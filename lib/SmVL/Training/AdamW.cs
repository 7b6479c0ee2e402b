using SmVL.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>
/// AdamW as PyTorch's single-tensor `torch.optim.AdamW` computes it (decoupled weight decay, bias
/// corrections, eps added after the square root; `exp_avg.lerp_(grad, 1 - β1)`). TorchSharp has
/// its own AdamW, but its step passes every hyper-parameter as an implicit <see cref="Scalar"/>
/// that the finalizer may free mid-call (see <see cref="Scalars"/>); this one owns every scalar it
/// passes. State is one (exp_avg, exp_avg_sq) pair per named parameter plus the step count,
/// saved as safetensors so a checkpoint's optimizer file is checked like any other tensor file.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<(string name, Parameter p)> _params;
    private readonly double _beta1, _beta2, _eps, _weightDecay;
    private readonly Dictionary<string, (Tensor expAvg, Tensor expAvgSq)> _state = new();
    private readonly Scalar _eps_, _oneMinusBeta2, _beta2_;
    private readonly Dictionary<(DeviceType, int, ScalarType), Tensor> _oneMinusBeta1 = new();

    public double LearningRate { get; set; }
    public long Steps { get; private set; }

    public AdamW(IEnumerable<(string name, Parameter p)> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999,
                 double eps = 1e-8, double weightDecay = 0.01)
    {
        _params = parameters.ToList();
        LearningRate = lr; _beta1 = beta1; _beta2 = beta2; _eps = eps; _weightDecay = weightDecay;
        _eps_ = eps.ToScalar(); _beta2_ = beta2.ToScalar(); _oneMinusBeta2 = (1 - beta2).ToScalar();
    }

    /// <summary>Parameters holding state (each trainable one after the first step or a load).</summary>
    public int StateCount => _state.Count;

    /// <summary>Bytes of optimizer state (exp_avg and exp_avg_sq).</summary>
    public long StateBytes => _state.Values.Sum(s => 2 * s.expAvg.NumberOfElements * s.expAvg.ElementSize);

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        Steps++;
        double bias1 = 1 - Math.Pow(_beta1, Steps), bias2 = 1 - Math.Pow(_beta2, Steps);
        using var decay = (1 - LearningRate * _weightDecay).ToScalar();
        using var bias2Sqrt = Math.Sqrt(bias2).ToScalar();
        using var negStepSize = (-LearningRate / bias1).ToScalar();
        using var _ = no_grad();
        foreach (var (name, p) in _params)
        {
            if (p.grad is not { } grad) continue;
            using var scope = NewDisposeScope();
            var (expAvg, expAvgSq) = State(name, p);
            if (_weightDecay != 0) p.mul_(decay);
            expAvg.lerp_(grad, OneMinusBeta1(p));
            expAvgSq.mul_(_beta2_).addcmul_(grad, grad, _oneMinusBeta2);
            var denom = expAvgSq.sqrt().div_(bias2Sqrt).add_(_eps_, Scalars.One);
            p.addcdiv_(expAvg, denom, negStepSize);
        }
    }

    public void ZeroGrad()
    {
        foreach (var (_, p) in _params)
            if (p.grad is { } g) { g.Dispose(); p.grad = null; }
    }

    /// <summary>Writes exp_avg/exp_avg_sq per parameter (`name.exp_avg`, `name.exp_avg_sq`) and the step.</summary>
    public void Save(string path)
    {
        var tensors = _state.SelectMany(kv => new[]
        {
            new KeyValuePair<string, Tensor>(kv.Key + ".exp_avg", kv.Value.expAvg),
            new KeyValuePair<string, Tensor>(kv.Key + ".exp_avg_sq", kv.Value.expAvgSq),
        });
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["step"] = Steps.ToString() });
    }

    /// <summary>Restores what <see cref="Save"/> wrote; a missing tensor or a shape mismatch names the file and tensor.</summary>
    public void Load(string path)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("step", out var step) || !long.TryParse(step, out var steps))
            throw new CheckpointException(path, null, "no optimizer step in the metadata");
        // All state comes from the file: a parameter it has none for starts from zero again.
        foreach (var (a, b) in _state.Values) { a.Dispose(); b.Dispose(); }
        _state.Clear();
        foreach (var (name, p) in _params)
        {
            if (!file.Tensors.ContainsKey(name + ".exp_avg")) continue;   // no gradient reached it before the save
            var (expAvg, expAvgSq) = State(name, p);
            foreach (var (key, target) in new[] { (name + ".exp_avg", expAvg), (name + ".exp_avg_sq", expAvgSq) })
            {
                if (!file.Tensors.ContainsKey(key)) throw new CheckpointException(path, key, "is missing");
                using var t = file.Read(key);
                if (!t.shape.SequenceEqual(target.shape))
                    throw new CheckpointException(path, key, $"has shape [{string.Join(", ", t.shape)}], the parameter [{string.Join(", ", target.shape)}]");
                using (no_grad()) target.copy_(t);
            }
        }
        Steps = steps;
    }

    private (Tensor, Tensor) State(string name, Parameter p)
    {
        if (!_state.TryGetValue(name, out var s))
            _state[name] = s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
        return s;
    }

    // TorchSharp's lerp_ takes its weight as a tensor: a 0-d one per device and dtype, made once
    // (the same value PyTorch's scalar weight takes in the parameter's dtype).
    private Tensor OneMinusBeta1(Tensor p)
    {
        var key = (p.device_type, p.device_index, p.dtype);
        if (!_oneMinusBeta1.TryGetValue(key, out var w))
            _oneMinusBeta1[key] = w = tensor(1 - _beta1, dtype: p.dtype, device: p.device).DetachFromDisposeScope();
        return w;
    }

    public void Dispose()
    {
        foreach (var (a, b) in _state.Values) { a.Dispose(); b.Dispose(); }
        foreach (var w in _oneMinusBeta1.Values) w.Dispose();
        _state.Clear();
        _eps_.Dispose(); _beta2_.Dispose(); _oneMinusBeta2.Dispose();
    }
}
