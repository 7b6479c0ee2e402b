using System.CommandLine;
using SmVL.Checkpoints;
using SmVL.Evaluation;
using static TorchSharp.torch;

namespace SmVL.Experiments.Verbs;

/// <summary>
/// `smvl parity --model DIR --reference FILE --out FILE [--merger-image-token-id N]`: compute our
/// outputs for every input group in a parity reference file and write them under the same keys;
/// also prints max |ours − reference| for every key both files have.
/// </summary>
public sealed class ParityVerb : IVerb
{
    public string Name => "parity";
    public string Summary => "compute outputs for a parity reference file (logits, vision, connector, greedy tokens)";

    public IReadOnlyList<Symbol> Options { get; } =
    [
        Opt.Text("model", "HF-format model folder", required: true),
        Opt.Text("reference", "parity reference .safetensors", required: true),
        Opt.Text("out", "our outputs, .safetensors", required: true),
        Opt.Long("merger-image-token-id", "image token id the merger looks for (default: the config's)"),
    ];

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string model = args.Require("model"), reference = args.Require("reference"), output = args.Require("out");
        long? merger = args.Long("merger-image-token-id");
        var outputs = Parity.Run(model, reference, merger);
        var converted = outputs.ToDictionary(kv => kv.Key,
            kv => kv.Value.dtype == int64 ? kv.Value : kv.Value.to(float32));
        Safetensors.Save(output, converted.OrderBy(kv => kv.Key));
        using var refFile = SafetensorsFile.Open(reference);
        foreach (var (key, ours) in converted.OrderBy(kv => kv.Key))
        {
            if (!refFile.Tensors.ContainsKey(key)) { Console.WriteLine($"{key,-40} (no reference)"); continue; }
            using var r = refFile.Read(key);
            string diff = r.shape.SequenceEqual(ours.shape)
                ? (ours.dtype == int64 ? (ours.eq(r.to(int64)).all().item<bool>() ? "exact" : "DIFFERENT") : $"{(ours - r.to(float32)).abs().max().item<float>():E2}")
                : $"shape {string.Join("x", ours.shape)} vs {string.Join("x", r.shape)}";
            Console.WriteLine($"{key,-40} {diff}");
        }
        Console.WriteLine($"wrote {converted.Count} tensors to {output}");
        return Task.FromResult(0);
    }
}
