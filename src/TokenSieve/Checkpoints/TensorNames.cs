namespace TokenSieve.Checkpoints;

/// <summary>The one mapping table between checkpoint tensor names and model parts. Canonical names
/// are the classic llava-hf spelling (transformers &lt; 4.52); newer re-saves use the
/// <c>model.language_model.*</c> spelling, which <see cref="Canonical"/> maps back.</summary>
public static class TensorNames
{
    /// <summary>(newer prefix, canonical prefix), the reverse of transformers' _checkpoint_conversion_mapping.</summary>
    static readonly (string From, string To)[] Renames =
    [
        ("model.language_model.", "language_model.model."),
        ("model.vision_tower.", "vision_tower."),
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
    public const string ClassEmbedding = Vision + "embeddings.class_embedding";
    public const string PatchEmbedding = Vision + "embeddings.patch_embedding.weight";
    public const string PositionEmbedding = Vision + "embeddings.position_embedding.weight";
    /// <summary>Sic: "layrnorm" is the real name in every CLIP checkpoint.</summary>
    public const string PreLayerNorm = Vision + "pre_layrnorm.";
    public const string PostLayerNorm = Vision + "post_layernorm.";
    public static string VisionLayer(int i) => $"{Vision}encoder.layers.{i}.";
    // inside a vision layer: self_attn.{q,k,v,out}_proj.{weight,bias}, layer_norm1/2.{weight,bias}, mlp.fc1/fc2.{weight,bias}

    // --- projector ---
    public const string ProjectorLinear1 = "multi_modal_projector.linear_1.";
    public const string ProjectorLinear2 = "multi_modal_projector.linear_2.";

    // --- language model (LlamaForCausalLM inside LLaVA) ---
    public const string Llm = "language_model.model.";
    public const string EmbedTokens = Llm + "embed_tokens.weight";
    public const string FinalNorm = Llm + "norm.weight";
    public const string LmHead = "language_model.lm_head.weight";
    public static string LlmLayer(int i) => $"{Llm}layers.{i}.";
    // inside a decoder layer: self_attn.{q,k,v,o}_proj.weight, mlp.{gate,up,down}_proj.weight,
    // input_layernorm.weight, post_attention_layernorm.weight
}
