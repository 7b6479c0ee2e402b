using System.Text.RegularExpressions;
using SmVL.Checkpoints;
using SmVL.Processing;

namespace SmVL.Export;

/// <summary>
/// The vision half of a stitched model as an mmproj GGUF of llama.cpp's SmolVLM projector type
/// <c>idefics3</c> (tools/mtmd; docs/gguf-export-research.md §4): the SigLIP tower, the pixel
/// shuffle's scale factor, the connector's linear layer (HF's pixel-shuffle order, as is), the tile
/// size, the longest edge images are resized to, and the normalisation. Embeddings, biases and norms
/// stay float32 (convert_hf_to_gguf.py forces the patch and position embeddings to float32).
/// </summary>
public static partial class GgufVisionProjector
{
    public static GgufWriter Build(string dir, SmolVLMConfig config, CheckpointTensors tensors, GgmlType type)
    {
        var vision = config.VisionConfig;
        string preprocessor = Path.Combine(dir, "preprocessor_config.json");
        var images = File.Exists(preprocessor) ? ImageProcessorConfig.Load(preprocessor) : ImageProcessorConfig.SmolVLM2 with { LongestEdge = vision.ImageSize };

        var gguf = new GgufWriter();
        gguf.Add("general.architecture", "clip");
        gguf.Add("general.type", "mmproj");
        gguf.Add("general.name", Path.GetFileName(Path.GetFullPath(dir)));
        gguf.Add("general.file_type", type == GgmlType.F32 ? 0u : 1u);
        gguf.Add("general.alignment", (uint)GgufWriter.Alignment);
        gguf.Add("clip.projector_type", "idefics3");
        gguf.Add("clip.has_vision_encoder", true);
        gguf.Add("clip.use_gelu", vision.HiddenAct == "gelu_pytorch_tanh");   // otherwise clip.cpp uses gelu_quick
        gguf.Add("clip.vision.image_size", (uint)vision.ImageSize);
        gguf.Add("clip.vision.preproc_image_size", (uint)images.LongestEdge);
        gguf.Add("clip.vision.patch_size", (uint)vision.PatchSize);
        gguf.Add("clip.vision.embedding_length", (uint)vision.HiddenSize);
        gguf.Add("clip.vision.feed_forward_length", (uint)vision.IntermediateSize);
        gguf.Add("clip.vision.block_count", (uint)vision.NumHiddenLayers);
        gguf.Add("clip.vision.attention.head_count", (uint)vision.NumAttentionHeads);
        gguf.Add("clip.vision.attention.layer_norm_epsilon", (float)vision.LayerNormEps);
        gguf.Add("clip.vision.projection_dim", (uint)config.TextConfig.HiddenSize);   // mtmd checks it against the text model's width
        gguf.Add("clip.vision.projector.scale_factor", (uint)config.ScaleFactor);
        gguf.Add("clip.vision.image_mean", images.ImageMean.Select(v => (float)v).ToArray());
        gguf.Add("clip.vision.image_std", images.ImageStd.Select(v => (float)v).ToArray());

        foreach (var name in tensors.Names)
        {
            if (!name.StartsWith("model.vision_model.", StringComparison.Ordinal) && !name.StartsWith("model.connector.", StringComparison.Ordinal)) continue;
            string ggufName = LlamaCppName(name) ?? throw new InvalidDataException($"{dir}: tensor {name} has no place in llama.cpp's idefics3 projector");
            var shape = tensors.Shape(name);
            bool keepFloat32 = shape.Length == 1 || name.Contains(".embeddings.");
            gguf.AddTensor(ggufName, shape, keepFloat32 ? GgmlType.F32 : type, () => tensors.Read(name));
        }
        return gguf;
    }

    /// <summary>HF SmolVLM vision/connector name → clip.cpp's (tools/mtmd/clip-impl.h); null for one it does not have.</summary>
    public static string? LlamaCppName(string hfName)
    {
        switch (hfName)
        {
            case "model.vision_model.embeddings.patch_embedding.weight": return "v.patch_embd.weight";
            case "model.vision_model.embeddings.patch_embedding.bias": return "v.patch_embd.bias";
            case "model.vision_model.embeddings.position_embedding.weight": return "v.position_embd.weight";
            case "model.vision_model.post_layernorm.weight": return "v.post_ln.weight";
            case "model.vision_model.post_layernorm.bias": return "v.post_ln.bias";
            case "model.connector.modality_projection.proj.weight": return "mm.model.fc.weight";
        }
        var m = LayerTensor().Match(hfName);
        if (!m.Success) return null;
        string? part = m.Groups[2].Value switch
        {
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.out_proj" => "attn_out",
            "layer_norm1" => "ln1",
            "layer_norm2" => "ln2",
            "mlp.fc1" => "ffn_up",
            "mlp.fc2" => "ffn_down",
            _ => null,
        };
        return part is null ? null : $"v.blk.{m.Groups[1].Value}.{part}.{m.Groups[3].Value}";
    }

    [GeneratedRegex(@"^model\.vision_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex LayerTensor();
}
