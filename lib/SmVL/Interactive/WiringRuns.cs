using SmVL.TinyWorld;
using SmVL.Evaluation;
using SmVL.Generation;
using SmVL.Processing;
using SmVL.Stitching;

namespace SmVL.Interactive;

/// <summary>
/// A folder of trained runs as notebooks 05–07 read it, whichever world trained it: summary.json
/// (held-out accuracy per run and of the majority baseline, overall and by question type) and,
/// per run, &lt;name&gt;/metrics.jsonl, &lt;name&gt;/predictions.jsonl and &lt;name&gt;/model (an HF folder).
/// "stitched", "broken_frozen" and "broken_full" are always there (the blog's figure).
/// </summary>
/// <param name="VlmParent">the VLM folder the runs were stitched from</param>
/// <param name="LmParent">the language-model folder the runs were stitched from</param>
/// <param name="Text">the ids the stitch handed the model</param>
/// <param name="Generation">greedy decoding with the runs' stop and pad ids</param>
/// <param name="EvalSet">the held-out questions predictions.jsonl answers, in order</param>
/// <param name="Settings">how the runs were trained, one line</param>
/// <param name="Schedule">the learning-rate schedule after warm-up ("cosine" or "linear", as in an experiment file)</param>
/// <param name="LabelPolicy">which text tokens the training loss was computed on</param>
public sealed record WiringRuns(string Dir, IReadOnlyList<string> Names, string VlmParent, string LmParent, Processor Processor,
                                TextSide Text, GenerationOptions Generation, IReadOnlyList<VqaExample> EvalSet, string Settings,
                                string Schedule, LabelPolicy LabelPolicy);
