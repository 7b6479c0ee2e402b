using SmVL.TinyWorld;
using SmVL.Models;
using SmVL.Processing;

namespace SmVL.Interactive;

/// <summary>
/// What the notebooks run on, chosen by one setting, <see cref="RealCheckpointsVariable"/>.
/// Unset (the default): the tiny world (<see cref="TinyNotebookWorld"/>). Set to a folder laid out
/// as data/README.md says (models/SmolVLM2-256M-Video-Instruct, models/Qwen3-0.6B,
/// data/the_cauldron): the real checkpoints (<see cref="RealNotebookWorld"/>). Every notebook asks
/// <see cref="FromEnvironment"/> for its world and branches on nothing else, so both worlds go
/// through the same cells.
/// </summary>
public abstract class NotebookWorld
{
    public const string RealCheckpointsVariable = "SMVL_REAL_CHECKPOINTS";

    public static NotebookWorld FromEnvironment() =>
        Environment.GetEnvironmentVariable(RealCheckpointsVariable) is { Length: > 0 } root
            ? RealNotebookWorld.FromEnvironment(root)
            : new TinyNotebookWorld();

    public abstract bool IsReal { get; }
    /// <summary>One line saying which world this is and how to switch.</summary>
    public abstract string Description { get; }
    /// <summary>The VLM whose vision tower and pixel shuffle are kept (an HF folder).</summary>
    public abstract string VlmDir { get; }
    /// <summary>The Qwen3 language model that replaces its text model (an HF folder).</summary>
    public abstract string LmDir { get; }

    private Processor? _processor;
    /// <summary>Qwen3's tokenizer, the Qwen3-SmVL chat template and SmolVLM's image processor at this world's sizes.</summary>
    public Processor Processor => _processor ??= CreateProcessor();
    protected abstract Processor CreateProcessor();

    /// <summary>A SmolVLM vision tower + pixel shuffle + connector around a Qwen3 text model, for looking at tensors.</summary>
    public abstract SmolVLMForConditionalGeneration LoadStitched();

    /// <summary>Pictures to push through the models (not used for training).</summary>
    public abstract IReadOnlyList<RgbImage> SampleImages(int count);

    /// <summary>The correct-wiring run and the two broken-wiring runs (plus whatever else the world trains), trained on first use and read back after.</summary>
    public abstract WiringRuns Runs();
}
