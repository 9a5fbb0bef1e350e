namespace TokenSieve.Checkpoints;

/// <summary>The one mapping table between checkpoint tensor names and model parts. Canonical names
/// are the classic llava-hf spelling (transformers &lt; 4.52); newer re-saves use the
/// <c>model.language_model.*</c> spelling, which <see cref="Canonical"/> maps back.</summary>
internal static class TensorNames
{
    /// <summary>(newer prefix, canonical prefix), the reverse of transformers' _checkpoint_conversion_mapping.</summary>
    static readonly (string From, string To)[] Renames =
    [
        ("model.language_model.", "language_model.model."),
        ("model.vision_tower.", "vision_tower."),
        ("model.image_tower.", "image_tower."),
        ("model.video_tower.", "video_tower."),
        ("model.image_newline", "image_newline"),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
    ];

    /// <summary>Buffers some checkpoints carry that the model recomputes.</summary>
    public static bool IsIgnoredBuffer(string name) =>
        name.EndsWith(".position_ids", StringComparison.Ordinal) || name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);

    public static string Canonical(string name)
    {
        foreach (var (from, to) in Renames)
            if (name.StartsWith(from, StringComparison.Ordinal)) return to + name[from.Length..];
        return name;
    }

    // --- vision tower (CLIPVisionModel inside LLaVA) ---
    public const string Vision = "vision_tower.vision_model.";
    /// <summary>Video-LLaVA's two towers (same config, different weights).</summary>
    public const string ImageTower = "image_tower.vision_model.";
    public const string VideoTower = "video_tower.vision_model.";
    public const string ImageNewline = "image_newline";

    /// <summary>The LLaVA tower's names (<see cref="Vision"/> prefix).</summary>
    public static readonly ClipTowerNames Clip = new(Vision);

    public static string ClassEmbedding => Clip.ClassEmbedding;
    public static string PatchEmbedding => Clip.PatchEmbedding;
    public static string PositionEmbedding => Clip.PositionEmbedding;
    /// <summary>Sic: "layrnorm" is the real name in every CLIP checkpoint.</summary>
    public static string PreLayerNorm => Clip.PreLayerNorm;
    public static string PostLayerNorm => Clip.PostLayerNorm;
    public static string VisionLayer(int i) => Clip.Layer(i);

    /// <summary>The prefixes (each followed by "weight" / "bias") of CLIP encoder layer i.</summary>
    public static ClipLayerNames ClipLayer(int i) => Clip.LayerNames(i);

    // --- projector ---
    public const string ProjectorLinear1 = "multi_modal_projector.linear_1.";
    public const string ProjectorLinear2 = "multi_modal_projector.linear_2.";

    // --- language model (LlamaForCausalLM inside LLaVA) ---
    public const string Llm = "language_model.model.";
    public const string EmbedTokens = Llm + "embed_tokens.weight";
    public const string FinalNorm = Llm + "norm.weight";
    public const string LmHead = "language_model.lm_head.weight";
    public static string LlmLayer(int i) => $"{Llm}layers.{i}.";

    /// <summary>The names of LLaMA decoder layer i: full tensor names of the two RMSNorm weights, and
    /// the prefixes (followed by "weight", and "bias" where a model has one) of the projections.</summary>
    public static LlamaLayerNames LlamaLayer(int i) => DecoderTensorNames.Llava.Layer(i);
}

/// <summary>The tensor names of one CLIP vision tower under <paramref name="Prefix"/>
/// ("vision_tower.vision_model." in LLaVA, "image_tower…" / "video_tower…" in Video-LLaVA).</summary>
internal sealed record ClipTowerNames(string Prefix)
{
    public string ClassEmbedding => Prefix + "embeddings.class_embedding";
    public string PatchEmbedding => Prefix + "embeddings.patch_embedding.weight";
    public string PositionEmbedding => Prefix + "embeddings.position_embedding.weight";
    /// <summary>Sic: "layrnorm" is the real name in every CLIP checkpoint.</summary>
    public string PreLayerNorm => Prefix + "pre_layrnorm.";
    public string PostLayerNorm => Prefix + "post_layernorm.";
    public string Layer(int i) => $"{Prefix}encoder.layers.{i}.";

    public ClipLayerNames LayerNames(int i)
    {
        string p = Layer(i);
        return new ClipLayerNames(p + "layer_norm1.", p + "self_attn.q_proj.", p + "self_attn.k_proj.", p + "self_attn.v_proj.", p + "self_attn.out_proj.",
            p + "layer_norm2.", p + "mlp.fc1.", p + "mlp.fc2.");
    }
}

/// <summary>Prefixes of one CLIP encoder layer's tensors.</summary>
internal sealed record ClipLayerNames(string LayerNorm1, string Q, string K, string V, string Out, string LayerNorm2, string Fc1, string Fc2);

/// <summary>Names of one LLaMA decoder layer's tensors (norm weights in full, projection prefixes).</summary>
internal sealed record LlamaLayerNames(string InputNorm, string Q, string K, string V, string O, string PostNorm, string Gate, string Up, string Down);
