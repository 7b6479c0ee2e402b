using SmVL.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SmVL.Stitching;

/// <summary>
/// LoRA settings (PEFT / LLaMA-Factory meaning): rank r, alpha (the update is scaled by alpha/r),
/// dropout on the adapter input, and which Linear layers of the LM's decoder get adapters.
/// LLaMA-Factory's `lora_target: all` = every Linear of the decoder (the seven below).
/// </summary>
public sealed record LoraOptions
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; }
    public IReadOnlyList<string> Targets { get; init; } = AttentionTargets;
    /// <summary>Seed of the A initialisation (deterministic adapters).</summary>
    public long Seed { get; init; }

    public double Scaling => Alpha / Rank;

    public static readonly IReadOnlyList<string> AttentionTargets = new[] { "q_proj", "k_proj", "v_proj", "o_proj" };
    public static readonly IReadOnlyList<string> MlpTargets = new[] { "gate_proj", "up_proj", "down_proj" };
    public static readonly IReadOnlyList<string> AllTargets = AttentionTargets.Concat(MlpTargets).ToArray();

    /// <summary>Targets with "all" expanded and duplicates removed; throws on an unknown name.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> targets)
    {
        var list = new List<string>();
        foreach (var t in targets)
        {
            var names = t == "all" ? AllTargets : new[] { t };
            foreach (var n in names)
            {
                if (!AllTargets.Contains(n)) throw new ArgumentException($"unknown LoRA target '{n}' (known: {string.Join(", ", AllTargets)}, all)");
                if (!list.Contains(n)) list.Add(n);
            }
        }
        return list;
    }

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"LoRA rank must be positive, got {Rank}");
        if (!(Alpha > 0)) throw new ArgumentException($"LoRA alpha must be positive, got {Alpha}");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (Expand(Targets).Count == 0) throw new ArgumentException("LoRA needs at least one target module");
    }
}

/// <summary>
/// A Linear with a low-rank update: y = x Wᵀ + b + (alpha/r) · B(A(dropout(x))). It owns the base
/// layer's own weight and bias parameters under their original names (`q_proj.weight`), so a base
/// checkpoint still loads by name; the adapters are `q_proj.lora_A.weight` (r × in, kaiming-uniform
/// as nn.Linear/PEFT) and `q_proj.lora_B.weight` (out × r, zeros: a fresh adapter changes nothing).
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;
    public readonly Linear lora_A, lora_B;
    private readonly Dropout? lora_dropout;
    private readonly double _scaling;

    public int Rank { get; }
    public double Scaling => _scaling;
    public long InFeatures => weight.shape[1];
    public long OutFeatures => weight.shape[0];

    public LoraLinear(Linear baseLayer, LoraOptions o, Generator? generator = null) : base(nameof(LoraLinear))
    {
        weight = baseLayer.weight!;
        bias = baseLayer.bias;
        Rank = o.Rank;
        _scaling = o.Scaling;
        long inF = weight.shape[1], outF = weight.shape[0];
        lora_A = nn.Linear(inF, o.Rank, hasBias: false, device: weight.device, dtype: weight.dtype);
        lora_B = nn.Linear(o.Rank, outF, hasBias: false, device: weight.device, dtype: weight.dtype);
        using (no_grad())
        {
            // kaiming_uniform_(a=√5) on (r, in): bound = √(6 / ((1 + 5) · in)) = 1/√in.
            double bound = 1.0 / Math.Sqrt(inF);
            using var u = rand(new[] { (long)o.Rank, inF }, dtype: float32, generator: generator);
            using var width = (2 * bound).ToScalar();
            using var low = bound.ToScalar();
            using var a = u.mul(width).sub_(low);
            lora_A.weight!.copy_(a);
            lora_B.weight!.zero_();
        }
        if (o.Dropout > 0) lora_dropout = nn.Dropout(o.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.linear(x, weight, bias);
        var d = lora_dropout is null ? x : lora_dropout.forward(x);
        var update = lora_B.forward(lora_A.forward(d));
        return y.add(update, alpha: Scalars.Of(_scaling)).MoveToOuterDisposeScope();
    }

    /// <summary>ΔW = (alpha/r) · B·A, (out × in), computed in float32 then cast to the weight's dtype.</summary>
    public Tensor Delta()
    {
        using var scope = NewDisposeScope();
        var d = lora_B.weight!.detach().to(float32).matmul(lora_A.weight!.detach().to(float32)).mul(Scalars.Of(_scaling));
        return d.to(weight.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>A plain Linear holding W + ΔW (and the same bias values), with the base weight's requires_grad.</summary>
    public Linear Merge()
    {
        var lin = nn.Linear(InFeatures, OutFeatures, hasBias: bias is not null, device: weight.device, dtype: weight.dtype);
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var merged = weight.detach().to(float32).add(Delta().to(float32), Scalars.One);
            lin.weight!.copy_(merged.to(weight.dtype));
            if (bias is not null) lin.bias!.copy_(bias);
        }
        lin.weight!.requires_grad = weight.requires_grad;
        if (bias is not null) lin.bias!.requires_grad = bias.requires_grad;
        return lin;
    }
}

/// <summary>
/// Adding, listing and merging LoRA adapters on the stitched model's text decoder
/// (`model.text_model.layers.*.self_attn.{q,k,v,o}_proj`, `...mlp.{gate,up,down}_proj`).
/// The vision tower is never adapted. Train with <see cref="FreezePolicy.Lora"/> (connector +
/// `lora_*`); export with <see cref="MergeAndUnload"/>, which folds (alpha/r)·B·A into the base
/// weights and drops the adapters, leaving a plain model an HF loader reads.
/// </summary>
public static class Lora
{
    /// <summary>Wrap every target Linear of every decoder layer; returns the wrapped module paths.</summary>
    public static IReadOnlyList<string> Apply(SmolVLMForConditionalGeneration model, LoraOptions options)
    {
        options.Validate();
        var targets = LoraOptions.Expand(options.Targets);
        var gen = new Generator((ulong)options.Seed, CPU);
        var wrapped = new List<string>();
        var layers = model.model.text_model.layers;
        for (int i = 0; i < layers.Count; i++)
            foreach (var t in targets)
            {
                var current = Get(layers[i], t);
                if (current is LoraLinear) throw new InvalidOperationException($"layer {i} {t} already has a LoRA adapter");
                if (current is not Linear lin) throw new InvalidOperationException($"layer {i} {t} is a {current.GetType().Name}, not a Linear");
                Set(layers[i], t, new LoraLinear(lin, options, gen));
                wrapped.Add($"model.text_model.layers.{i}.{Path(t)}");
            }
        return wrapped;
    }

    /// <summary>All adapters with their module paths.</summary>
    public static IEnumerable<(string path, LoraLinear adapter)> Adapters(SmolVLMForConditionalGeneration model)
    {
        var layers = model.model.text_model.layers;
        for (int i = 0; i < layers.Count; i++)
            foreach (var t in LoraOptions.AllTargets)
                if (Get(layers[i], t) is LoraLinear l) yield return ($"model.text_model.layers.{i}.{Path(t)}", l);
    }

    /// <summary>Fold each adapter into its base weight and put a plain Linear back; returns how many were merged.</summary>
    public static int MergeAndUnload(SmolVLMForConditionalGeneration model)
    {
        int n = 0;
        var layers = model.model.text_model.layers;
        for (int i = 0; i < layers.Count; i++)
            foreach (var t in LoraOptions.AllTargets)
                if (Get(layers[i], t) is LoraLinear l)
                {
                    Set(layers[i], t, l.Merge());
                    l.Dispose();
                    n++;
                }
        return n;
    }

    private static string Path(string target) => LoraOptions.AttentionTargets.Contains(target) ? "self_attn." + target : "mlp." + target;

    private static nn.Module<Tensor, Tensor> Get(Qwen3DecoderLayer layer, string target) => target switch
    {
        "q_proj" => layer.self_attn.q_proj,
        "k_proj" => layer.self_attn.k_proj,
        "v_proj" => layer.self_attn.v_proj,
        "o_proj" => layer.self_attn.o_proj,
        "gate_proj" => layer.mlp.gate_proj,
        "up_proj" => layer.mlp.up_proj,
        "down_proj" => layer.mlp.down_proj,
        _ => throw new ArgumentException($"unknown LoRA target '{target}'"),
    };

    /// <summary>Swap the field and its registration (TorchSharp refuses to re-register a name, so unregister first).</summary>
    private static void Set(Qwen3DecoderLayer layer, string target, nn.Module<Tensor, Tensor> m)
    {
        nn.Module parent = LoraOptions.AttentionTargets.Contains(target) ? layer.self_attn : layer.mlp;
        parent.register_module(target, null!);
        switch (target)
        {
            case "q_proj": layer.self_attn.q_proj = m; break;
            case "k_proj": layer.self_attn.k_proj = m; break;
            case "v_proj": layer.self_attn.v_proj = m; break;
            case "o_proj": layer.self_attn.o_proj = m; break;
            case "gate_proj": layer.mlp.gate_proj = m; break;
            case "up_proj": layer.mlp.up_proj = m; break;
            case "down_proj": layer.mlp.down_proj = m; break;
        }
        parent.register_module(target, m);
    }
}
