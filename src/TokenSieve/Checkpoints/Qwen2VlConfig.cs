using System.Text.Json;

namespace TokenSieve.Checkpoints;

/// <summary>Qwen2VLVisionConfig with transformers' class defaults (depth 32, embed_dim 1280,
/// hidden_size 3584, quick_gelu, mlp_ratio 4, 16 heads, 3 channels, patch 14, merge 2, temporal patch 2).
/// <see cref="HiddenSize"/> is the PatchMerger's output width, the decoder's hidden size.</summary>
public sealed record Qwen2VlVisionConfig(
    int Depth, int EmbedDim, int HiddenSize, string HiddenAct, int MlpRatio, int NumHeads, int InChannels, int PatchSize,
    int SpatialMergeSize, int TemporalPatchSize)
{
    public int HeadDim => EmbedDim / NumHeads;

    public int MlpHiddenSize => EmbedDim * MlpRatio;

    /// <summary>Values of one flattened patch: channels · temporal patch · patch² (1176).</summary>
    public int PatchLength => InChannels * TemporalPatchSize * PatchSize * PatchSize;

    /// <summary>Patches merged into one visual token (2×2 = 4).</summary>
    public int MergeUnit => SpatialMergeSize * SpatialMergeSize;

    /// <summary>Width of the PatchMerger's input: a merge window's patches side by side.</summary>
    public int MergedDim => EmbedDim * MergeUnit;

    /// <summary>LayerNorm epsilon of the blocks and of ln_q: hard-coded 1e-6 in transformers.</summary>
    public const float LayerNormEps = 1e-6f;

    /// <summary>The vision rotary's base, hard-coded 10000 in transformers.</summary>
    public const float RotaryTheta = 10000f;
}

/// <summary>A Qwen2-VL config.json (<c>model_type qwen2_vl</c>, transformers 4.45: the text settings at the
/// top level, the tower in <c>vision_config</c>) resolved against the class defaults. The decoder is
/// a <see cref="LlamaConfig"/> with q/k/v biases and M-RoPE sections. <see cref="Defaulted"/> lists
/// the keys whose value came from a default.</summary>
public sealed record Qwen2VlConfig(
    Qwen2VlVisionConfig Vision, LlamaConfig Text, int ImageTokenId, int VideoTokenId, int VisionStartTokenId, int VisionEndTokenId,
    IReadOnlyList<string> Defaulted, IReadOnlyList<string> IgnoredKeys, string? File)
{
    public const string ModelType = "qwen2_vl";

    public static readonly string[] SupportedVisionActs = ["quick_gelu", "gelu"];

    static readonly HashSet<string> TopKeys = new(StringComparer.Ordinal)
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "hidden_act",
        "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "use_sliding_window", "sliding_window", "max_window_layers",
        "vision_config", "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id", "vision_token_id",
    };

    /// <summary>The published checkpoints also write <c>in_chans</c> and <c>spatial_patch_size</c>, which
    /// transformers ignores (its PatchEmbed reads in_channels and patch_size); so do we.</summary>
    static readonly HashSet<string> VisionKeys = new(StringComparer.Ordinal)
    {
        "depth", "embed_dim", "hidden_size", "hidden_act", "mlp_ratio", "num_heads", "in_channels", "in_chans", "patch_size", "spatial_merge_size",
        "spatial_patch_size", "temporal_patch_size",
    };

    /// <summary>Reads config.json (or the one in a folder). Unknown keys are an error unless
    /// <paramref name="allowUnknownKeys"/>, as for <see cref="LlavaConfig"/>.</summary>
    public static Qwen2VlConfig Load(string path, bool allowUnknownKeys = false)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        using var doc = JsonInput.ParseFile(path, (reason, _) => new ConfigException(path, null, reason), allowComments: true);
        return Parse(doc.RootElement, path, allowUnknownKeys);
    }

    public static Qwen2VlConfig Parse(JsonElement root, string? file, bool allowUnknownKeys = false)
    {
        var r = new LlavaConfig.Reader(file, allowUnknownKeys);
        if (root.ValueKind != JsonValueKind.Object) throw new ConfigException(file, null, "config is not a JSON object");
        LlavaConfig.CheckNames(root, "", file);
        if (root.TryGetProperty("vision_config", out var vs) && vs.ValueKind == JsonValueKind.Object) LlavaConfig.CheckNames(vs, "vision_config.", file);
        if (root.TryGetProperty("rope_scaling", out var rsn) && rsn.ValueKind == JsonValueKind.Object) LlavaConfig.CheckNames(rsn, "rope_scaling.", file);
        string modelType = r.Str(root, "", "model_type", ModelType);
        if (modelType != ModelType) throw new ConfigException(file, "model_type", $"'{TokenSieveException.Printable(modelType)}' is not {ModelType}");
        r.CheckKeys(root, "", TopKeys);

        var v = root.TryGetProperty("vision_config", out var ve) ? ve : default;
        if (v.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
            throw new ConfigException(file, "vision_config", $"expected an object, got {JsonInput.Show(v)}");
        if (v.ValueKind == JsonValueKind.Object)
        {
            r.CheckKeys(v, "vision_config.", VisionKeys);
            string vt = r.Str(v, "vision_config.", "model_type", ModelType);
            if (vt != ModelType) throw new ConfigException(file, "vision_config.model_type", $"'{TokenSieveException.Printable(vt)}' is not {ModelType}");
        }
        const int maxHidden = LlavaConfig.MaxHiddenSize, maxLayers = LlavaConfig.MaxLayers;
        int patch = r.Int(v, "vision_config.", "patch_size", 14, 1, 1024);
        var vision = new Qwen2VlVisionConfig(
            Depth: r.Int(v, "vision_config.", "depth", 32, 1, maxLayers),
            EmbedDim: r.Int(v, "vision_config.", "embed_dim", 1280, 1, maxHidden),
            HiddenSize: r.Int(v, "vision_config.", "hidden_size", 3584, 1, maxHidden),
            HiddenAct: r.Str(v, "vision_config.", "hidden_act", "quick_gelu"),
            MlpRatio: r.Int(v, "vision_config.", "mlp_ratio", 4, 1, 64),
            NumHeads: r.Int(v, "vision_config.", "num_heads", 16, 1, maxHidden),
            InChannels: r.Int(v, "vision_config.", "in_channels", 3, 1, LlavaConfig.MaxChannels),
            PatchSize: patch,
            SpatialMergeSize: r.Int(v, "vision_config.", "spatial_merge_size", 2, 1, 64),
            TemporalPatchSize: r.Int(v, "vision_config.", "temporal_patch_size", 2, 1, 64));

        int heads = r.Int(root, "", "num_attention_heads", 64, 1, maxHidden);
        int hidden = r.Int(root, "", "hidden_size", 8192, 1, maxHidden);
        var text = new LlamaConfig(
            VocabSize: r.Int(root, "", "vocab_size", 152064, 1, LlavaConfig.MaxVocabSize),
            HiddenSize: hidden,
            IntermediateSize: r.Int(root, "", "intermediate_size", 29568, 1, LlavaConfig.MaxIntermediateSize),
            NumHiddenLayers: r.Int(root, "", "num_hidden_layers", 80, 1, maxLayers),
            NumAttentionHeads: heads,
            NumKeyValueHeads: r.Int(root, "", "num_key_value_heads", 8, 1, maxHidden),
            HiddenAct: r.Str(root, "", "hidden_act", "silu"),
            MaxPositionEmbeddings: r.Int(root, "", "max_position_embeddings", 32768, 1, LlavaConfig.MaxPositionEmbeddingsLimit),
            RmsNormEps: r.Float(root, "", "rms_norm_eps", 1e-5f, 0, 1),
            RopeTheta: r.Float(root, "", "rope_theta", 1000000f, float.Epsilon, float.MaxValue),
            BosTokenId: r.Int(root, "", "bos_token_id", 151643, int.MinValue, int.MaxValue),
            EosTokenId: r.Int(root, "", "eos_token_id", 151645, int.MinValue, int.MaxValue),
            TieWordEmbeddings: r.Bool(root, "", "tie_word_embeddings", false))
        {
            AttentionBias = true,
            MropeSection = MropeSection(root, file, r),
        };
        if (r.Bool(root, "", "use_sliding_window", false))
            throw new ConfigException(file, "use_sliding_window", "sliding-window attention is not supported (every published Qwen2-VL has it off)");

        var config = new Qwen2VlConfig(vision, text,
            ImageTokenId: r.Int(root, "", "image_token_id", 151655, 0, LlavaConfig.MaxVocabSize),
            VideoTokenId: r.Int(root, "", "video_token_id", 151656, 0, LlavaConfig.MaxVocabSize),
            VisionStartTokenId: r.Int(root, "", "vision_start_token_id", 151652, 0, LlavaConfig.MaxVocabSize),
            VisionEndTokenId: r.Int(root, "", "vision_end_token_id", 151653, 0, LlavaConfig.MaxVocabSize),
            Defaulted: r.Defaulted, IgnoredKeys: r.Ignored, File: file);
        config.Validate();
        return config;
    }

    /// <summary><c>rope_scaling</c>: transformers 4.45 writes <c>{"type": "default", "rope_type": "default",
    /// "mrope_section": [...]}</c>, the published checkpoints <c>{"type": "mrope", "mrope_section": [...]}</c>;
    /// both mean M-RoPE. Any other scaling type changes the angles and is refused.</summary>
    static int[] MropeSection(JsonElement root, string? file, LlavaConfig.Reader r)
    {
        if (!root.TryGetProperty("rope_scaling", out var rs) || rs.ValueKind == JsonValueKind.Null)
            throw new ConfigException(file, "rope_scaling", "missing; Qwen2-VL needs rope_scaling.mrope_section (transformers fails without it too)");
        if (rs.ValueKind != JsonValueKind.Object) throw new ConfigException(file, "rope_scaling", $"expected an object, got {JsonInput.Show(rs)}");
        r.CheckKeys(rs, "rope_scaling.", new HashSet<string>(StringComparer.Ordinal) { "type", "rope_type", "mrope_section" });
        foreach (var key in new[] { "type", "rope_type" })
            if (rs.TryGetProperty(key, out var t) && t.ValueKind != JsonValueKind.Null)
            {
                string type = t.ValueKind == JsonValueKind.String ? JsonInput.TryGetString(t) ?? "" : JsonInput.Show(t);
                if (type is not ("default" or "mrope"))
                    throw new ConfigException(file, "rope_scaling." + key, $"'{TokenSieveException.Printable(type)}' is not supported (default or mrope: plain M-RoPE)");
            }
        if (!rs.TryGetProperty("mrope_section", out var ms) || ms.ValueKind != JsonValueKind.Array)
            throw new ConfigException(file, "rope_scaling.mrope_section", "expected a list of three section sizes (t, h, w)");
        var sections = new List<int>();
        foreach (var e in ms.EnumerateArray())
        {
            if (JsonInput.TryGetInteger(e) is not long n || n < 0 || n > LlavaConfig.MaxHiddenSize)
                throw new ConfigException(file, "rope_scaling.mrope_section", $"entry {sections.Count} is {JsonInput.Show(e)}, not a size 0..{LlavaConfig.MaxHiddenSize}");
            sections.Add((int)n);
            if (sections.Count > 3) break;
        }
        if (sections.Count != 3) throw new ConfigException(file, "rope_scaling.mrope_section", $"has {ms.GetArrayLength()} entries, expected 3 (t, h, w)");
        return sections.ToArray();
    }

    void Validate()
    {
        var v = Vision;
        var t = Text;
        if (v.EmbedDim % v.NumHeads != 0)
            throw new ConfigException(File, "vision_config.num_heads", $"embed_dim {v.EmbedDim} is not divisible by {v.NumHeads} heads");
        if (v.HeadDim % 4 != 0)
            throw new ConfigException(File, "vision_config.num_heads", $"vision head dim {v.HeadDim} must be a multiple of 4 (the 2-D rotary splits half of it between rows and columns)");
        if (!SupportedVisionActs.Contains(v.HiddenAct))
            throw new ConfigException(File, "vision_config.hidden_act", $"activation '{TokenSieveException.Printable(v.HiddenAct)}' is not supported ({string.Join(", ", SupportedVisionActs)})");
        if (v.HiddenSize != t.HiddenSize)
            throw new ConfigException(File, "vision_config.hidden_size", $"the PatchMerger's output width {v.HiddenSize} differs from the decoder's hidden_size {t.HiddenSize}; its rows replace token embeddings");
        if ((long)v.MlpHiddenSize > LlavaConfig.MaxIntermediateSize)
            throw new ConfigException(File, "vision_config.mlp_ratio", $"MLP width {v.EmbedDim}x{v.MlpRatio} is too large");
        if ((long)v.PatchLength > LlavaConfig.MaxIntermediateSize)
            throw new ConfigException(File, "vision_config.patch_size", $"a patch of {v.InChannels}x{v.TemporalPatchSize}x{v.PatchSize}x{v.PatchSize} values is too large");
        if (t.HiddenSize % t.NumAttentionHeads != 0)
            throw new ConfigException(File, "num_attention_heads", $"hidden_size {t.HiddenSize} is not divisible by {t.NumAttentionHeads} heads");
        if (t.NumAttentionHeads % t.NumKeyValueHeads != 0)
            throw new ConfigException(File, "num_key_value_heads", $"{t.NumAttentionHeads} query heads are not a multiple of {t.NumKeyValueHeads} kv heads");
        if (t.HeadDim % 2 != 0) throw new ConfigException(File, "hidden_size", $"head dim {t.HeadDim} must be even for RoPE");
        if (t.MropeSection!.Sum() != t.HeadDim / 2)
            throw new ConfigException(File, "rope_scaling.mrope_section", $"[{string.Join(",", t.MropeSection!)}] sums to {t.MropeSection!.Sum()}, but the head dim {t.HeadDim} has {t.HeadDim / 2} rotary frequencies");
        if (t.HiddenAct != "silu") throw new ConfigException(File, "hidden_act", $"activation '{TokenSieveException.Printable(t.HiddenAct)}' is not supported (silu)");
        foreach (var (key, id) in new[] { ("image_token_id", ImageTokenId), ("video_token_id", VideoTokenId), ("vision_start_token_id", VisionStartTokenId), ("vision_end_token_id", VisionEndTokenId) })
            if (id >= t.VocabSize) throw new ConfigException(File, key, $"{id} is outside the vocabulary 0..{t.VocabSize - 1}");
        if (ImageTokenId == VisionStartTokenId || ImageTokenId == VisionEndTokenId || ImageTokenId == VideoTokenId)
            throw new ConfigException(File, "image_token_id", $"{ImageTokenId} must differ from the video and vision start/end ids");
    }
}
