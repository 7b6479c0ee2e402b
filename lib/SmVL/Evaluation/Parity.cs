using System.Text.RegularExpressions;
using SmVL.Checkpoints;
using SmVL.Generation;
using Generator = SmVL.Generation.Generator;
using SmVL.Models;
using static TorchSharp.torch;

namespace SmVL.Evaluation;

/// <summary>
/// Computes, for every input group found in a parity reference file, the outputs our stack
/// produces, under the same key names (conventions of shared/parity/README.md):
/// `seqN.input_ids` → `seqN.logits` (+ `seqN.hidden.*`); `generate.prompt_ids` +
/// `generate.max_new_tokens` → `generate.new_token_ids`, `generate.step_logits`;
/// `vision.pixel_values` → `vision.last_hidden_state`, `connector.pixel_shuffled`, `connector.output`;
/// `vision.partial.patch_attention_mask` → `vision.partial.last_hidden_state`;
/// `<case>.input_ids` + `<case>.pixel_values` → `<case>.inputs_embeds`, `.connector_output`, `.logits`
/// and, given a merger id, `<case>.logits_broken_wiring`.
/// </summary>
public static class Parity
{
    public static Dictionary<string, Tensor> Run(string modelDir, string referenceFile, long? mergerImageTokenId = null)
    {
        var reference = Safetensors.Load(referenceFile);
        try
        {
            using var _ = no_grad();
            return Pretrained.ModelType(modelDir) == "smolvlm"
                ? RunVlm(Pretrained.LoadSmolVLM(modelDir), reference, mergerImageTokenId)
                : RunText(Pretrained.LoadCausalLM(modelDir), reference);
        }
        finally { foreach (var t in reference.Values) t.Dispose(); }
    }

    private static Dictionary<string, Tensor> RunText(Qwen3ForCausalLM lm, Dictionary<string, Tensor> r)
    {
        var outputs = new Dictionary<string, Tensor>();
        foreach (var prefix in Groups(r, "input_ids").Where(p => Regex.IsMatch(p, @"^seq\d+$")))
        {
            var hidden = new List<Tensor>();
            var last = lm.model.forward(lm.Embed(r[prefix + ".input_ids"]), hiddenStates: hidden);
            outputs[prefix + ".logits"] = lm.Logits(last);
            outputs[prefix + ".hidden.embeddings"] = hidden[0];
            for (int i = 1; i < hidden.Count; i++) outputs[$"{prefix}.hidden.layer{i - 1}"] = hidden[i];
            outputs[prefix + ".hidden.final_norm"] = last;
        }
        AddGenerate(lm, r, outputs);
        AddRope(lm.model, r, outputs);
        return outputs;
    }

    private static Dictionary<string, Tensor> RunVlm(SmolVLMForConditionalGeneration vlm, Dictionary<string, Tensor> r, long? mergerId)
    {
        var outputs = new Dictionary<string, Tensor>();
        var m = vlm.model;
        if (r.TryGetValue("vision.pixel_values", out var pixels))
        {
            var hidden = new List<Tensor>();
            var last = m.vision_model.forward(pixels, hiddenStates: hidden);
            outputs["vision.last_hidden_state"] = last;
            outputs["vision.embeddings"] = hidden[0];
            for (int i = 1; i < hidden.Count; i++) outputs[$"vision.layer{i - 1}"] = hidden[i];
            outputs["connector.pixel_shuffled"] = PixelShuffleConnector.PixelShuffle(last, m.connector.ScaleFactor);
            outputs["connector.output"] = m.connector.forward(last);
            if (r.TryGetValue("vision.partial.patch_attention_mask", out var patchMask))
                outputs["vision.partial.last_hidden_state"] = m.vision_model.forward(pixels[..(int)patchMask.shape[0]], patchMask);
        }
        foreach (var prefix in Groups(r, "input_ids"))
        {
            var ids = r[prefix + ".input_ids"];
            if (!r.TryGetValue(prefix + ".pixel_values", out var px))
            {
                outputs[prefix + ".logits"] = vlm.forward(ids);
                continue;
            }
            var features = m.ImageFeatures(px);
            outputs[prefix + ".connector_output"] = features;
            outputs[prefix + ".inputs_embeds"] = m.InputsEmbeds(ids, null, features);
            outputs[prefix + ".logits"] = vlm.Logits(m.text_model.forward(outputs[prefix + ".inputs_embeds"]));
            if (mergerId is { } wrong)
            {
                long saved = m.MergerImageTokenId;
                m.MergerImageTokenId = wrong;
                try { outputs[prefix + ".logits_broken_wiring"] = vlm.forward(ids, px); }
                finally { m.MergerImageTokenId = saved; }
            }
        }
        AddGenerate(vlm, r, outputs);
        return outputs;
    }

    private static void AddGenerate(ICausalLM model, Dictionary<string, Tensor> r, Dictionary<string, Tensor> outputs)
    {
        if (!r.TryGetValue("generate.prompt_ids", out var prompt)) return;
        int maxNew = r.TryGetValue("generate.max_new_tokens", out var n) ? (int)n.item<long>() : 8;
        r.TryGetValue("generate.pixel_values", out var px);
        // The reference is plain greedy decoding without a stop token (reference.json: eos_check).
        var options = new GenerationOptions { MaxNewTokens = maxNew, EosTokenIds = [], ReturnLogits = true };
        using var result = Generator.Generate(model, [prompt.data<long>().ToArray()], px, options);
        outputs["generate.new_token_ids"] = tensor(result.Tokens[0], dtype: int64).unsqueeze(0);
        outputs["generate.step_logits"] = result.StepLogits![0].clone();
    }

    private static void AddRope(Qwen3Model model, Dictionary<string, Tensor> r, Dictionary<string, Tensor> outputs)
    {
        if (!r.TryGetValue("rope.cos", out var cosRef)) return;
        var positions = Scalars.Arange(0, cosRef.shape[0]).unsqueeze(0);
        var (cos, sin) = model.Rope.Compute(positions);
        outputs["rope.inv_freq"] = model.Rope.InvFreq.clone();
        outputs["rope.cos"] = cos[0];
        outputs["rope.sin"] = sin[0];
    }

    /// <summary>Key prefixes that have a `prefix.suffix` entry, e.g. "seq7" for "seq7.input_ids".</summary>
    private static IEnumerable<string> Groups(Dictionary<string, Tensor> r, string suffix) =>
        r.Keys.Where(k => k.EndsWith("." + suffix) && !k.StartsWith("generate.")).Select(k => k[..^(suffix.Length + 1)]).OrderBy(k => k);
}
