using System.Text.RegularExpressions;
using SmVL.Checkpoints;
using SmVL.Processing;

namespace SmVL.Export;

/// <summary>
/// The language half of a stitched model as the GGUF llama.cpp loads as architecture <c>qwen3</c>
/// (docs/gguf-export-research.md §2–3): its hyper-parameters, its weights under llama.cpp's tensor
/// names, and the folder's own tokenizer (byte-level BPE: tokens, types, merges, special ids) and
/// chat template. Norms stay float32 in every file, as convert_hf_to_gguf.py keeps them; a tied head
/// is left out (llama.cpp reuses token_embd).
/// </summary>
public static partial class GgufTextModel
{
    // gguf TokenType values.
    private const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    public static GgufWriter Build(string dir, SmolVLMConfig config, CheckpointTensors tensors, GgmlType type)
    {
        var text = config.TextConfig;
        if (text.ModelType != "qwen3")
            throw new InvalidDataException($"{dir}/config.json: text model '{text.ModelType}' — the GGUF export writes Qwen3 text models only");
        var gguf = new GgufWriter();
        gguf.Add("general.architecture", "qwen3");
        gguf.Add("general.type", "model");
        gguf.Add("general.name", Path.GetFileName(Path.GetFullPath(dir)));
        gguf.Add("general.file_type", type == GgmlType.F32 ? 0u : 1u);   // llama_ftype ALL_F32 / MOSTLY_F16
        gguf.Add("general.alignment", (uint)GgufWriter.Alignment);
        gguf.Add("qwen3.context_length", (uint)text.MaxPositionEmbeddings);
        gguf.Add("qwen3.embedding_length", (uint)text.HiddenSize);
        gguf.Add("qwen3.block_count", (uint)text.NumHiddenLayers);
        gguf.Add("qwen3.feed_forward_length", (uint)text.IntermediateSize);
        gguf.Add("qwen3.attention.head_count", (uint)text.NumAttentionHeads);
        gguf.Add("qwen3.attention.head_count_kv", (uint)text.KeyValueHeads);
        // llama.cpp's defaults (n_embd / n_head, theta 10000) are wrong for Qwen3: always written.
        gguf.Add("qwen3.attention.key_length", (uint)text.HeadDim);
        gguf.Add("qwen3.attention.value_length", (uint)text.HeadDim);
        gguf.Add("qwen3.rope.dimension_count", (uint)text.HeadDim);
        gguf.Add("qwen3.rope.freq_base", (float)text.RopeTheta);
        gguf.Add("qwen3.attention.layer_norm_rms_epsilon", (float)text.RmsNormEps);
        AddTokenizer(gguf, dir, config);

        foreach (var name in tensors.Names)
        {
            if (!name.StartsWith("model.text_model.", StringComparison.Ordinal) && name != "lm_head.weight") continue;
            if (name == "lm_head.weight" && config.HeadTied) continue;
            string ggufName = LlamaCppName(name)
                ?? throw new InvalidDataException($"{dir}: tensor {name} has no place in llama.cpp's qwen3 (LoRA adapters must be merged before export)");
            var shape = tensors.Shape(name);
            // convert_hf_to_gguf.py: 1-D tensors and norms stay float32 (most ggml kernels only take them so).
            gguf.AddTensor(ggufName, shape, shape.Length == 1 ? GgmlType.F32 : type, () => tensors.Read(name));
        }
        return gguf;
    }

    /// <summary>HF Qwen3 name → llama.cpp's (src/models/qwen3.cpp); null for a tensor qwen3 does not have.</summary>
    public static string? LlamaCppName(string hfName)
    {
        switch (hfName)
        {
            case "model.text_model.embed_tokens.weight": return "token_embd.weight";
            case "model.text_model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        var m = LayerTensor().Match(hfName);
        if (!m.Success) return null;
        string? part = m.Groups[2].Value switch
        {
            "input_layernorm" => "attn_norm",
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            "self_attn.q_norm" => "attn_q_norm",
            "self_attn.k_norm" => "attn_k_norm",
            "post_attention_layernorm" => "ffn_norm",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            _ => null,
        };
        return part is null ? null : $"blk.{m.Groups[1].Value}.{part}.weight";
    }

    [GeneratedRegex(@"^model\.text_model\.layers\.(\d+)\.(.+)\.weight$")]
    private static partial Regex LayerTensor();

    /// <summary>
    /// The tokenizer keys llama.cpp's BPE vocabulary reads: gpt2-style tokens with the qwen2
    /// pre-tokenizer, one entry per embedding row (rows beyond the tokenizer are [PAD i], unused),
    /// added tokens as control (special, or spelled &lt;|…|&gt;) or user-defined, and explicit
    /// bos/eos/pad ids (llama.cpp's BPE defaults are wrong for Qwen).
    /// </summary>
    private static void AddTokenizer(GgufWriter gguf, string dir, SmolVLMConfig config)
    {
        string path = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} not found: the GGUF carries the model's own tokenizer", path);
        var spec = TokenizerSpec.Load(path);
        string configPath = Path.Combine(dir, "tokenizer_config.json");
        var tokConfig = File.Exists(configPath) ? TokenizerConfig.FromFile(configPath) : null;

        int rows = config.TextConfig.VocabSize;
        var tokens = new string?[rows];
        var types = new int[rows];
        foreach (var (piece, id) in spec.Vocab) Place(id, piece, Normal);
        foreach (var t in spec.AddedTokens)
            Place(t.Id, t.Content, t.Special || (t.Content.StartsWith("<|") && t.Content.EndsWith("|>")) ? Control : UserDefined);
        for (int i = 0; i < rows; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = Unused; }

        int Id(string? token) => token is not null && spec.AddedTokens.FirstOrDefault(t => t.Content == token) is { } t ? t.Id : -1;
        int eos = config.TextConfig.EosTokenIds.FirstOrDefault(-1) is >= 0 and var e ? e : Id(tokConfig?.EosToken);
        int pad = config.PadTokenId ?? config.TextConfig.PadTokenId ?? Id(tokConfig?.PadToken);
        int bos = config.TextConfig.BosTokenId ?? (Id(tokConfig?.BosToken) is >= 0 and var b ? b : pad);
        if (eos < 0 || pad < 0) throw new InvalidDataException($"{dir}: no eos or pad token id in config.json or tokenizer_config.json");

        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", "qwen2");
        gguf.Add("tokenizer.ggml.tokens", tokens!);
        gguf.Add("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.merges", spec.Merges);
        gguf.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        gguf.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        gguf.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        gguf.Add("tokenizer.ggml.add_bos_token", false);
        gguf.Add("tokenizer.ggml.add_eos_token", false);
        string templatePath = Path.Combine(dir, "chat_template.jinja");
        if ((File.Exists(templatePath) ? File.ReadAllText(templatePath) : tokConfig?.ChatTemplate) is { } template)
            gguf.Add("tokenizer.chat_template", template);

        void Place(int id, string piece, int type)
        {
            if (id < 0 || id >= rows) throw new InvalidDataException($"{path}: token {piece} has id {id}, but the model has {rows} embedding rows");
            tokens[id] = piece;
            types[id] = type;
        }
    }
}
