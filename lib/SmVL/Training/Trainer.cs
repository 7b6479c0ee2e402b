using System.Diagnostics;
using SmVL.Models;
using SmVL.Stitching;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Training;

/// <summary>Raised when the loss or a gradient is NaN/inf; the last good checkpoint is left in place.</summary>
public sealed class TrainingDivergedException(string message, IReadOnlyDictionary<string, double>? row = null) : Exception(message)
{
    /// <summary>What was measured at the failing step (loss, lr, grad norms when reached).</summary>
    public IReadOnlyDictionary<string, double> Row { get; } = row ?? new Dictionary<string, double>();
}

/// <summary>Raised when a run is asked to stop: it stopped between two steps with a checkpoint of the last one.</summary>
public sealed class TrainingInterruptedException(long step, string? checkpoint)
    : OperationCanceledException($"stopped after step {step}" + (checkpoint is null ? " (checkpoints are off: nothing to resume from)" : $"; checkpoint {checkpoint}; run the same command with --resume to continue"))
{
    public long Step { get; } = step;
}

/// <summary>
/// The training loop (nanoGPT order: lr → accumulate → clip → step → log → eval → checkpoint).
/// AdamW over the trainable parameters only; HF's token-weighted loss under gradient
/// accumulation (the sum over all labelled tokens of the accumulated micro-batches divided by
/// their count); the pre-clip grad norm and per-module grad norms every step. Checkpoints hold
/// trainables + optimizer state + step; data is indexed by step, so a resumed run is bitwise the
/// uninterrupted one on CPU. Disposing it frees the optimizer state (native memory the GC cannot see).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly nn.Module _model;
    private readonly ICausalLM? _lm;
    private readonly TrainOptions _o;
    private readonly string _runDir;
    private readonly List<(string name, Parameter p)> _trainable;
    private readonly AdamW _optimizer;
    private readonly Func<long, double> _lr;

    public long Step { get; private set; }
    public List<double> Losses { get; } = new();

    /// <param name="model">the module whose trainable parameters are optimised: the stitched VLM or a text LM
    /// (an <see cref="ICausalLM"/>, trained on batches), or any module trained on its own <see cref="IObjective"/></param>
    public Trainer(nn.Module model, TrainOptions options, string runDir)
    {
        _model = model; _o = options; _runDir = runDir;
        _lm = model as ICausalLM;
        _trainable = model.named_parameters().Where(np => np.parameter.requires_grad).Select(np => (np.name, np.parameter)).ToList();
        if (_trainable.Count == 0) throw new InvalidOperationException("no trainable parameters: apply a freeze policy that leaves something to train");
        _optimizer = new AdamW(_trainable, options.LearningRate, options.Beta1, options.Beta2, options.Eps, options.WeightDecay);
        _lr = Schedules.Create(options.Schedule, options.Warmup, options.Steps, options.LearningRate);
        if (options.GradientCheckpointing)
            foreach (var stack in model.modules().OfType<ICheckpointedStack>()) stack.GradientCheckpointing = true;
    }

    public IReadOnlyList<string> TrainableNames => _trainable.Select(t => t.name).ToList();

    /// <summary>Parameters the optimizer holds state for (must equal the trainable count: frozen ones get none).</summary>
    public int OptimizerStateCount => _optimizer.StateCount;

    /// <summary>Bytes the optimizer holds (AdamW: exp_avg and exp_avg_sq).</summary>
    public long OptimizerStateBytes => _optimizer.StateBytes;

    /// <summary>
    /// Train until <see cref="TrainOptions.Steps"/> (or <paramref name="maxSteps"/>). With
    /// <paramref name="resume"/> the latest complete checkpoint is restored (trainables, optimizer,
    /// step) and metrics rows past it are dropped; without it the run directory's old checkpoints
    /// and metrics are cleared, so a fresh run never mixes with (or prunes against) a stale one.
    /// </summary>
    /// <param name="cancel">checked between steps: the run then saves the last step (when checkpoints
    /// are on) and throws <see cref="TrainingInterruptedException"/></param>
    public void Run(IBatchSource train, IBatchSource? eval = null, bool resume = false, long? maxSteps = null,
                    Action<long, IReadOnlyDictionary<string, double>>? onStep = null, CancellationToken cancel = default)
    {
        var objective = new CausalLMObjective(Lm, train, _o.LossChunk);
        Parallel?.Bind(objective, replica => new CausalLMObjective((ICausalLM)replica, train, _o.LossChunk));
        Loop(objective, eval, resume, maxSteps, onStep, cancel);
    }

    /// <summary>Train on any objective (a causal LM's batches are <see cref="CausalLMObjective"/>); otherwise as above.</summary>
    public void Run(IObjective train, IBatchSource? eval = null, bool resume = false, long? maxSteps = null,
                    Action<long, IReadOnlyDictionary<string, double>>? onStep = null, CancellationToken cancel = default)
    {
        if (Parallel is not null) throw new InvalidOperationException("replicas compute causal-LM batches only: train on an IBatchSource");
        Loop(train, eval, resume, maxSteps, onStep, cancel);
    }

    private void Loop(IObjective train, IBatchSource? eval, bool resume, long? maxSteps,
                      Action<long, IReadOnlyDictionary<string, double>>? onStep, CancellationToken cancel)
    {
        if (resume)
        {
            Step = TrainState.TryResume(_runDir, _optimizer, _trainable, Log, out var position);
            if (Step > 0 && position is not null) train.Seek(Step * _o.GradAccum, position);
        }
        else
        {
            Step = 0;
            if (Directory.Exists(TrainState.Dir(_runDir))) Directory.Delete(TrainState.Dir(_runDir), true);
        }
        long stop = Math.Min(_o.Steps, maxSteps ?? long.MaxValue);
        using var metrics = new MetricsLog(_runDir, Step, tensorboard: Tensorboard);
        var bar = _o.Progress ? new ProgressBar(_o.ProgressLabel, stop, Step) : null;
        var clock = Stopwatch.StartNew();
        double elapsedBefore = TrainState.ElapsedSeconds(_runDir, Step);
        _model.train();
        Parallel?.Train(true);
        long saved = Step;
        Dictionary<string, double>? last = null;
        while (Step < stop)
        {
            if (cancel.IsCancellationRequested)
            {
                if (bar is not null) Console.Error.WriteLine();
                string? checkpoint = null;
                if (_o.SaveEvery > 0 && Step > 0)
                {
                    if (saved != Step) TrainState.Save(_runDir, Step, _trainable, _optimizer, _o.KeepLast, last!["elapsed_s"], train.PositionOf(Step * _o.GradAccum));
                    checkpoint = TrainState.Completed(_runDir).Last();
                }
                throw new TrainingInterruptedException(Step, checkpoint);
            }
            Dictionary<string, double> row;
            try { row = TrainStep(train); }
            catch (TrainingDivergedException e)
            {
                // Log the bad step (non-finite values are written as null) and stop; no checkpoint is written.
                metrics.Write(Step + 1, e.Row);
                throw;
            }
            Step++;
            if (_o.EvalEvery > 0 && eval is not null && (Step % _o.EvalEvery == 0 || Step == stop))
            {
                row["eval_loss"] = EvalLoss(eval, _o.EvalBatches);
                _model.train();
            }
            row["elapsed_s"] = elapsedBefore + clock.Elapsed.TotalSeconds;
            metrics.Write(Step, row);
            Losses.Add(row["loss"]);
            onStep?.Invoke(Step, row);
            bar?.Report(Step, $"loss {row["loss"]:F4}");
            last = row;
            if (_o.SaveEvery > 0 && (Step % _o.SaveEvery == 0 || Step == stop))
            {
                TrainState.Save(_runDir, Step, _trainable, _optimizer, _o.KeepLast, row["elapsed_s"], train.PositionOf(Step * _o.GradAccum));
                saved = Step;
            }
        }
    }

    /// <summary>Where the trainer reports what it had to work around (a damaged checkpoint on resume).</summary>
    public Action<string> Log { get; init; } = Console.Error.WriteLine;

    /// <summary>
    /// Replicas of the model that compute a step's micro-batches side by side with it (its
    /// <see cref="ParallelMicroBatches.Workers"/> may change between steps); null: one after another.
    /// Either way the step's gradients are the same bits. The trainer does not dispose it.
    /// </summary>
    public ParallelMicroBatches? Parallel
    {
        get => _parallel;
        init
        {
            if (value is not null && value.Master != _model) throw new ArgumentException("the replicas are of another model");
            _parallel = value;
        }
    }
    private readonly ParallelMicroBatches? _parallel;

    /// <summary>Also write TensorBoard event files (off in tests: they only add I/O).</summary>
    public bool Tensorboard { get; init; } = true;

    /// <summary>
    /// One optimizer step. Each micro-batch's summed token loss is back-propagated as is (one
    /// micro-batch in memory at a time); the accumulated gradients are then divided by the total
    /// labelled-token count, which is HF's `num_items_in_batch` normalisation: loss = Σ CE / Σ tokens.
    /// </summary>
    private Dictionary<string, double> TrainStep(IObjective objective)
    {
        var t0 = Stopwatch.GetTimestamp();
        double lr = _lr(Step);
        _optimizer.LearningRate = lr;
        using var scope = NewDisposeScope();
        long count = 0, tokens = 0, samples = 0;
        double lossSum = 0;
        for (int j = 0; j < _o.GradAccum;)
        {
            long index = Step * _o.GradAccum + j;
            int side = Math.Min(Parallel?.Workers ?? 1, _o.GradAccum - j);
            foreach (var micro in side > 1 ? Parallel!.Backward(index, side) : [Backward(objective, index)])
            {
                count += micro.Items;
                tokens += micro.Tokens;
                samples += micro.Samples;
                lossSum += micro.Sum;
            }
            j += side;
        }
        double lossValue = lossSum / Math.Max(1, count);
        var row = new Dictionary<string, double> { ["loss"] = lossValue, ["lr"] = lr };
        if (!double.IsFinite(lossValue))
            throw new TrainingDivergedException($"step {Step + 1}: loss {lossValue}; the last good checkpoint is in {TrainState.Dir(_runDir)}", row);
        using (no_grad())
        using (var labelled = Math.Max(1L, count).ToScalar())
            foreach (var (_, p) in _trainable)
                if (p.grad is { } g) g.div_(labelled);
        var norms = ModuleGradNorms().ToList();
        foreach (var (module, norm) in norms) row["grad_norm_" + module] = norm;
        double total = _o.ClipNorm > 0
            ? nn.utils.clip_grad_norm_(_trainable.Select(t => t.p), _o.ClipNorm)
            : Math.Sqrt(norms.Sum(m => m.norm * m.norm));
        row["grad_norm"] = total;
        if (!double.IsFinite(total))
            throw new TrainingDivergedException($"step {Step + 1}: grad norm {total} (loss {lossValue}); the last good checkpoint is in {TrainState.Dir(_runDir)}", row);
        _optimizer.Step();
        _optimizer.ZeroGrad();
        Parallel?.WeightsChanged();
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        row["tokens"] = tokens;
        row["samples_per_s"] = samples / seconds;
        row["tokens_per_s"] = tokens / seconds;
        return row;
    }

    /// <summary>
    /// One micro-batch's forward and backward pass in its own dispose scope: its summed loss is
    /// back-propagated as is unless it is not finite (the step then stops with the loss logged).
    /// </summary>
    internal static MicroBatchResult Backward(IObjective objective, long index)
    {
        using var scope = NewDisposeScope();
        var micro = objective.Loss(index);
        float sum = micro.Sum.item<float>();
        if (float.IsFinite(sum)) micro.Sum.backward();
        return new(sum, micro.Items, micro.Tokens, micro.Samples);
    }

    private ICausalLM Lm => _lm ?? throw new InvalidOperationException($"{_model.GetType().Name} is not an ICausalLM: train it on an IObjective");

    /// <summary>L2 norm of the gradients per module (vision, connector, lm, head) among trainables; 0 for a zero gradient.</summary>
    public IEnumerable<(string module, double norm)> ModuleGradNorms() =>
        _trainable.GroupBy(t => Freezing.ModuleOf(t.name))
            .Select(g => (g.Key, Math.Sqrt(g.Sum(t => SquaredNorm(t.p.grad)))))
            .ToList();

    // In float64, a block of a parameter at a time: whole copies of a full fine-tune's gradients would add
    // ~10 GB at real size, and a block stays inside one glibc heap of a thread other than the first (NativeAllocator).
    private static double SquaredNorm(Tensor? grad)
    {
        if (grad is null) return 0;
        using var scope = NewDisposeScope();
        var flat = grad.reshape(-1);
        var sum = zeros(1, dtype: float64, device: grad.device);
        for (long start = 0, n = flat.shape[0]; start < n; start += NormBlock)
        {
            using var inner = NewDisposeScope();
            sum.add_(flat.narrow(0, start, Math.Min(NormBlock, n - start)).to(float64).pow(Scalars.Two).sum(), Scalars.One);
        }
        return sum.item<double>();
    }

    private const long NormBlock = 1 << 20;

    /// <summary>Token-weighted mean loss over the first <paramref name="batches"/> eval batches.</summary>
    public double EvalLoss(IBatchSource eval, int batches)
    {
        using var _ = no_grad();
        _model.eval();
        double sum = 0; long count = 0;
        for (int i = 0; i < batches; i++)
        {
            using var scope = NewDisposeScope();
            using var b = eval.Get(i);
            sum += CausalLMLoss.Sum(Lm, b, _o.LossChunk).item<float>();
            count += b.LabelledTokens;
        }
        return sum / Math.Max(1, count);
    }

    public void Dispose() => _optimizer.Dispose();
}
