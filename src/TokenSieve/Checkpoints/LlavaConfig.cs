using System.Text.Json;

namespace TokenSieve.Checkpoints;

/// <summary>CLIPVisionConfig with Hugging Face's class defaults for missing keys.</summary>
public sealed record ClipVisionConfig(
    int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads, int NumChannels,
    int ImageSize, int PatchSize, string HiddenAct, float LayerNormEps)
{
    public int HeadDim => HiddenSize / NumAttentionHeads;
    public int GridSize => ImageSize / PatchSize;
    public int NumPatches => GridSize * GridSize;
    /// <summary>Patches plus [CLS].</summary>
    public int SequenceLength => NumPatches + 1;
}

/// <summary>LlamaConfig with Hugging Face's class defaults for missing keys.</summary>
public sealed record LlamaConfig(
    int VocabSize, int HiddenSize, int IntermediateSize, int NumHiddenLayers, int NumAttentionHeads, int NumKeyValueHeads,
    string HiddenAct, int MaxPositionEmbeddings, float RmsNormEps, float RopeTheta, int BosTokenId, int EosTokenId, bool TieWordEmbeddings)
{
    /// <summary>q/k/v projections carry biases (Qwen2; LLaMA has none).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>M-RoPE (Qwen2-VL): the HeadDim/2 rotary frequencies split into t | h | w sections, each
    /// turned by its own coordinate of a 3-D position; null for 1-D RoPE.</summary>
    public IReadOnlyList<int>? MropeSection { get; init; }

    public int HeadDim => HiddenSize / NumAttentionHeads;
    public int KvDim => NumKeyValueHeads * HeadDim;

    /// <summary>"llama" or "mistral" (the same decoder here; Mistral's config names a sliding window).</summary>
    public string ModelType { get; init; } = "llama";

    /// <summary>Mistral's attention window; null when attention is full. The engine computes full
    /// attention, which equals windowed attention while the sequence is no longer than the window, so
    /// longer sequences are refused (<see cref="CheckSequenceLength"/>).</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Refuses a sequence this decoder would attend to differently from its reference.</summary>
    public void CheckSequenceLength(int length)
    {
        if (SlidingWindow is int w && length > w)
            throw new InvalidInputException($"the sequence has {length} tokens, more than the decoder's sliding_window {w}; windowed attention is not implemented (full attention is exact up to the window)");
    }
}

/// <summary>The model families that share the CLIP tower, projector and LLaMA decoder.</summary>
public enum LlavaVariant
{
    /// <summary>LLaVA-1.5 (<c>llava</c>): one 336-px CLIP view per image.</summary>
    Llava,
    /// <summary>LLaVA-NeXT (<c>llava_next</c>): anyres tiles + a base view per image, unpadded and
    /// with <c>image_newline</c> after every grid row.</summary>
    LlavaNext,
    /// <summary>Video-LLaVA (<c>video_llava</c>): an image tower and a video tower (same config,
    /// different weights); a video is its frames, each with [CLS] kept.</summary>
    VideoLlava,
}

/// <summary>A llava-hf config.json resolved against the class defaults. <see cref="Defaulted"/> lists
/// the keys (as "vision_config.hidden_act" etc.) whose value came from a default, for `inspect`.</summary>
public sealed record LlavaConfig(
    ClipVisionConfig Vision, LlamaConfig Text, int ImageTokenIndex, int? PadTokenId, string ProjectorHiddenAct,
    int VisionFeatureLayer, string VisionFeatureSelectStrategy, bool ProjectorBias, IReadOnlyList<string> Defaulted,
    IReadOnlyList<string> IgnoredKeys, string? File)
{
    /// <summary>0-based index into hidden_states (0 = embeddings after pre_layrnorm, i = output of layer i−1).</summary>
    public int FeatureHiddenStateIndex => VisionFeatureLayer < 0 ? Vision.NumHiddenLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;

    /// <summary>How many encoder layers must run to produce the feature layer.</summary>
    public int VisionLayersToRun => FeatureHiddenStateIndex;

    /// <summary>"default" drops [CLS]; "full" keeps it.</summary>
    public bool KeepClsFeature => VisionFeatureSelectStrategy == "full";

    public int ImageTokensPerImage => Vision.NumPatches + (KeepClsFeature ? 1 : 0);

    /// <summary>Which of the LLaVA family this config describes (config.json <c>model_type</c>).</summary>
    public LlavaVariant Variant { get; init; } = LlavaVariant.Llava;

    /// <summary>LLaVA-NeXT's candidate resolutions (height, width) in config order.</summary>
    public IReadOnlyList<(int Height, int Width)> ImageGridPinpoints { get; init; } = [];

    /// <summary>Video-LLaVA's <c>&lt;video&gt;</c> placeholder id; null for the other variants.</summary>
    public int? VideoTokenIndex { get; init; }

    /// <summary>Rows a video contributes per frame: [CLS] and every patch (videos ignore the select strategy).</summary>
    public int VideoTokensPerFrame => Vision.NumPatches + 1;

    /// <summary>The config.json model_type of each variant.</summary>
    public static string ModelTypeOf(LlavaVariant v) => v switch
    {
        LlavaVariant.LlavaNext => "llava_next",
        LlavaVariant.VideoLlava => "video_llava",
        _ => "llava",
    };

    public static readonly string[] SupportedVisionActs = ["quick_gelu", "gelu"];
    public static readonly string[] SupportedTextActs = ["silu"];
    public static readonly string[] SupportedProjectorActs = ["gelu"];

    /// <summary>Keys every transformers PretrainedConfig writes and that do not change inference here.</summary>
    internal static readonly HashSet<string> GenericKeys = new(StringComparer.Ordinal)
    {
        "_name_or_path", "add_cross_attention", "architectures", "bad_words_ids", "begin_suppress_tokens", "bos_token_id",
        "chunk_size_feed_forward", "cross_attention_hidden_size", "decoder_start_token_id", "diversity_penalty", "do_sample",
        "early_stopping", "encoder_no_repeat_ngram_size", "eos_token_id", "exponential_decay_length_penalty", "finetuning_task",
        "forced_bos_token_id", "forced_eos_token_id", "id2label", "is_decoder", "is_encoder_decoder", "label2id", "length_penalty",
        "max_length", "min_length", "no_repeat_ngram_size", "num_beam_groups", "num_beams", "num_return_sequences",
        "output_attentions", "output_hidden_states", "output_scores", "pad_token_id", "prefix", "problem_type", "pruned_heads",
        "remove_invalid_values", "repetition_penalty", "return_dict", "return_dict_in_generate", "sep_token_id", "suppress_tokens",
        "task_specific_params", "temperature", "tf_legacy_loss", "tie_encoder_decoder", "tie_word_embeddings", "tokenizer_class",
        "top_k", "top_p", "torch_dtype", "dtype", "torchscript", "typical_p", "use_bfloat16", "transformers_version", "model_type",
        "initializer_range", "initializer_factor", "attention_dropout", "use_cache", "pretraining_tp", "_attn_implementation_autoset",
    };

    static readonly HashSet<string> TopKeys = new(StringComparer.Ordinal)
    {
        "text_config", "vision_config", "ignore_index", "image_token_index", "projector_hidden_act", "vision_feature_layer",
        "vision_feature_select_strategy", "multimodal_projector_bias", "image_seq_length", "vocab_size",
        // llava_next: the anyres resolutions; use_image_newline_parameter is always true for the
        // llava-hf conversions and transformers 4.45 ignores it (image_newline is always used).
        "image_grid_pinpoints", "use_image_newline_parameter",
        // video_llava
        "video_token_index", "video_seq_length",
    };

    static readonly HashSet<string> VisionKeys = new(StringComparer.Ordinal)
    {
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels", "image_size", "patch_size",
        "hidden_act", "layer_norm_eps", "projection_dim", "vocab_size", "dropout",
    };

    static readonly HashSet<string> TextKeys = new(StringComparer.Ordinal)
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "attention_bias", "mlp_bias", "head_dim",
        "sliding_window",
    };

    /// <summary>Reads config.json. Unknown keys are an error unless <paramref name="allowUnknownKeys"/>
    /// (then they are listed in <see cref="IgnoredKeys"/>): a key we do not know may change the
    /// computation, and silently ignoring it would give wrong answers.</summary>
    public static LlavaConfig Load(string path, bool allowUnknownKeys = false)
    {
        if (System.IO.Directory.Exists(path)) path = Path.Combine(path, "config.json");
        using var doc = JsonInput.ParseFile(path, (reason, _) => new ConfigException(path, null, reason), allowComments: true);
        return Parse(doc.RootElement, path, allowUnknownKeys);
    }

    // Limits on config.json values. They are far above every published LLaVA / LLaMA / CLIP size and
    // exist so that a corrupt or hostile config fails here, in microseconds, instead of after the
    // loader has built per-layer tables or the first forward has sized its buffers from it.

    /// <summary>Layers per tower. The deepest published LLaMA (3.1 405B) has 126; the loader builds
    /// name tables and layer arrays of this length before it finds the first missing tensor.</summary>
    public const int MaxLayers = 1024;
    /// <summary>Hidden width. The widest published LLaMA has 16384 and CLIP towers at most 1792.</summary>
    public const int MaxHiddenSize = 65536;
    /// <summary>MLP width (LLaMA 3.1 405B: 53248).</summary>
    public const int MaxIntermediateSize = 1 << 20;
    /// <summary>Vocabulary size (the largest published ones are about 262k).</summary>
    public const int MaxVocabSize = 1 << 24;
    /// <summary>Context length (the longest published LLaMA context is 10M tokens). The KV cache is
    /// sized by the prompt, not by this value.</summary>
    public const int MaxPositionEmbeddingsLimit = 1 << 24;
    /// <summary>CLIP input side in pixels (published towers: 224–1024).</summary>
    public const int MaxImageSize = 8192;
    /// <summary>Image channels (CLIP: 3).</summary>
    public const int MaxChannels = 64;
    /// <summary>Vision tokens per image ([CLS] + patches). LLaVA-1.5 has 577, a 1024-px tower with
    /// 14-px patches 5330; the tower's buffers are tokens × width and its optional attention maps
    /// heads × tokens², so this bound keeps them in range of an array.</summary>
    public const int MaxVisionTokens = 8192;

    /// <summary>Bytes of one float32 array the vision tower may need for a config: tokens × width,
    /// tokens × MLP width and heads × tokens² must each stay within one .NET array.</summary>
    static long MaxArrayElements => Array.MaxLength;

    public static LlavaConfig Parse(JsonElement root, string? file, bool allowUnknownKeys = false)
    {
        var r = new Reader(file, allowUnknownKeys);
        if (root.ValueKind != JsonValueKind.Object) throw new ConfigException(file, null, "config is not a JSON object");
        // Key names are checked first: TryGetProperty throws on names that are not valid Unicode.
        CheckNames(root, "", file);
        foreach (var section in new[] { "vision_config", "text_config" })
            if (root.TryGetProperty(section, out var s) && s.ValueKind == JsonValueKind.Object) CheckNames(s, section + ".", file);
        string modelType = r.Str(root, "", "model_type", "llava");
        var variant = modelType switch
        {
            "llava" => LlavaVariant.Llava,
            "llava_next" => LlavaVariant.LlavaNext,
            "video_llava" => LlavaVariant.VideoLlava,
            _ => throw new ConfigException(file, "model_type", $"'{modelType}' is not a LLaVA model type (llava, llava_next, video_llava)"),
        };
        r.CheckKeys(root, "", TopKeys);

        var v = root.TryGetProperty("vision_config", out var ve) ? ve : default;
        var t = root.TryGetProperty("text_config", out var te) ? te : default;
        if (v.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
            throw new ConfigException(file, "vision_config", $"expected an object, got {JsonInput.Show(v)}");
        if (t.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
            throw new ConfigException(file, "text_config", $"expected an object, got {JsonInput.Show(t)}");
        if (v.ValueKind == JsonValueKind.Object)
        {
            r.CheckKeys(v, "vision_config.", VisionKeys);
            string vt = r.Str(v, "vision_config.", "model_type", "clip_vision_model");
            if (vt != "clip_vision_model") throw new ConfigException(file, "vision_config.model_type", $"'{vt}' is not supported (only 'clip_vision_model')");
        }
        if (t.ValueKind == JsonValueKind.Object)
        {
            r.CheckKeys(t, "text_config.", TextKeys);
            string tt = r.Str(t, "text_config.", "model_type", "llama");
            if (tt is not ("llama" or "mistral")) throw new ConfigException(file, "text_config.model_type", $"'{tt}' is not supported (llama, mistral)");
        }

        var vision = new ClipVisionConfig(
            HiddenSize: r.Int(v, "vision_config.", "hidden_size", 768, 1, MaxHiddenSize),
            IntermediateSize: r.Int(v, "vision_config.", "intermediate_size", 3072, 1, MaxIntermediateSize),
            NumHiddenLayers: r.Int(v, "vision_config.", "num_hidden_layers", 12, 1, MaxLayers),
            NumAttentionHeads: r.Int(v, "vision_config.", "num_attention_heads", 12, 1, MaxHiddenSize),
            NumChannels: r.Int(v, "vision_config.", "num_channels", 3, 1, MaxChannels),
            ImageSize: r.Int(v, "vision_config.", "image_size", 224, 1, MaxImageSize),
            PatchSize: r.Int(v, "vision_config.", "patch_size", 32, 1, MaxImageSize),
            HiddenAct: r.Str(v, "vision_config.", "hidden_act", "quick_gelu"),
            LayerNormEps: r.Float(v, "vision_config.", "layer_norm_eps", 1e-5f, 0, 1));
        int heads = r.Int(t, "text_config.", "num_attention_heads", 32, 1, MaxHiddenSize);
        int hidden = r.Int(t, "text_config.", "hidden_size", 4096, 1, MaxHiddenSize);
        var text = new LlamaConfig(
            VocabSize: r.Int(t, "text_config.", "vocab_size", 32000, 1, MaxVocabSize),
            HiddenSize: hidden,
            IntermediateSize: r.Int(t, "text_config.", "intermediate_size", 11008, 1, MaxIntermediateSize),
            NumHiddenLayers: r.Int(t, "text_config.", "num_hidden_layers", 32, 1, MaxLayers),
            NumAttentionHeads: heads,
            NumKeyValueHeads: r.Int(t, "text_config.", "num_key_value_heads", heads, 1, MaxHiddenSize),
            HiddenAct: r.Str(t, "text_config.", "hidden_act", "silu"),
            MaxPositionEmbeddings: r.Int(t, "text_config.", "max_position_embeddings", 2048, 1, MaxPositionEmbeddingsLimit),
            RmsNormEps: r.Float(t, "text_config.", "rms_norm_eps", 1e-6f, 0, 1),
            RopeTheta: r.Float(t, "text_config.", "rope_theta", 10000f, float.Epsilon, float.MaxValue),
            BosTokenId: r.Int(t, "text_config.", "bos_token_id", 1, int.MinValue, int.MaxValue),
            EosTokenId: r.Int(t, "text_config.", "eos_token_id", 2, int.MinValue, int.MaxValue),
            TieWordEmbeddings: r.Bool(t, "text_config.", "tie_word_embeddings", r.Bool(root, "", "tie_word_embeddings", false)))
        {
            ModelType = t.ValueKind == JsonValueKind.Object && t.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString()! : "llama",
            SlidingWindow = r.OptionalInt(t, "text_config.", "sliding_window", 1, MaxPositionEmbeddingsLimit),
        };

        if (t.ValueKind == JsonValueKind.Object)
        {
            if (t.TryGetProperty("rope_scaling", out var rs) && rs.ValueKind != JsonValueKind.Null)
                throw new ConfigException(file, "text_config.rope_scaling", "RoPE scaling is not supported");
            if (r.Bool(t, "text_config.", "attention_bias", false)) throw new ConfigException(file, "text_config.attention_bias", "attention biases in the LLaMA decoder are not supported");
            if (r.Bool(t, "text_config.", "mlp_bias", false)) throw new ConfigException(file, "text_config.mlp_bias", "MLP biases in the LLaMA decoder are not supported");
            if (r.OptionalInt(t, "text_config.", "head_dim", 1, MaxHiddenSize) is int hd && hd != hidden / heads)
                throw new ConfigException(file, "text_config.head_dim", $"head_dim {hd} != hidden_size/num_attention_heads ({hidden}/{heads}); not supported");
        }

        var featureLayerElement = root.TryGetProperty("vision_feature_layer", out var fl) ? fl : default;
        if (featureLayerElement.ValueKind == JsonValueKind.Array)
            throw new ConfigException(file, "vision_feature_layer", "a list of feature layers (multi-layer features) is not supported");
        var config = new LlavaConfig(
            vision, text,
            ImageTokenIndex: r.Int(root, "", "image_token_index", 32000, 0, MaxVocabSize),
            PadTokenId: r.OptionalInt(root, "", "pad_token_id", int.MinValue, int.MaxValue),
            ProjectorHiddenAct: r.Str(root, "", "projector_hidden_act", "gelu"),
            VisionFeatureLayer: r.Int(root, "", "vision_feature_layer", -2, -MaxLayers - 1, MaxLayers),
            VisionFeatureSelectStrategy: r.Str(root, "", "vision_feature_select_strategy", "default"),
            ProjectorBias: r.Bool(root, "", "multimodal_projector_bias", true),
            Defaulted: r.Defaulted, IgnoredKeys: r.Ignored, File: file)
        {
            Variant = variant,
            ImageGridPinpoints = variant == LlavaVariant.LlavaNext ? r.Pinpoints(root, "image_grid_pinpoints") : [],
            VideoTokenIndex = variant == LlavaVariant.VideoLlava ? r.Int(root, "", "video_token_index", 32001, 0, MaxVocabSize) : null,
        };
        config.Validate();
        return config;
    }

    internal void Validate()
    {
        void Positive(string key, int value)
        {
            if (value <= 0) throw new ConfigException(File, key, $"must be positive, got {value}");
        }
        Positive("vision_config.hidden_size", Vision.HiddenSize);
        Positive("vision_config.intermediate_size", Vision.IntermediateSize);
        Positive("vision_config.num_hidden_layers", Vision.NumHiddenLayers);
        Positive("vision_config.num_attention_heads", Vision.NumAttentionHeads);
        Positive("vision_config.image_size", Vision.ImageSize);
        Positive("vision_config.patch_size", Vision.PatchSize);
        Positive("vision_config.num_channels", Vision.NumChannels);
        Positive("text_config.hidden_size", Text.HiddenSize);
        Positive("text_config.intermediate_size", Text.IntermediateSize);
        Positive("text_config.num_hidden_layers", Text.NumHiddenLayers);
        Positive("text_config.num_attention_heads", Text.NumAttentionHeads);
        Positive("text_config.num_key_value_heads", Text.NumKeyValueHeads);
        Positive("text_config.vocab_size", Text.VocabSize);
        Positive("text_config.max_position_embeddings", Text.MaxPositionEmbeddings);
        if (Vision.HiddenSize % Vision.NumAttentionHeads != 0)
            throw new ConfigException(File, "vision_config.num_attention_heads", $"hidden_size {Vision.HiddenSize} is not divisible by {Vision.NumAttentionHeads} heads");
        if (Vision.ImageSize % Vision.PatchSize != 0)
            throw new ConfigException(File, "vision_config.patch_size", $"image_size {Vision.ImageSize} is not a multiple of patch_size {Vision.PatchSize}");
        if (Text.HiddenSize % Text.NumAttentionHeads != 0)
            throw new ConfigException(File, "text_config.num_attention_heads", $"hidden_size {Text.HiddenSize} is not divisible by {Text.NumAttentionHeads} heads");
        if (Text.NumAttentionHeads % Text.NumKeyValueHeads != 0)
            throw new ConfigException(File, "text_config.num_key_value_heads", $"{Text.NumAttentionHeads} query heads are not a multiple of {Text.NumKeyValueHeads} kv heads");
        if (Text.HeadDim % 2 != 0) throw new ConfigException(File, "text_config.hidden_size", $"head dim {Text.HeadDim} must be even for RoPE");
        if (!SupportedVisionActs.Contains(Vision.HiddenAct))
            throw new ConfigException(File, "vision_config.hidden_act", $"activation '{Vision.HiddenAct}' is not supported ({string.Join(", ", SupportedVisionActs)})");
        if (!SupportedTextActs.Contains(Text.HiddenAct))
            throw new ConfigException(File, "text_config.hidden_act", $"activation '{Text.HiddenAct}' is not supported ({string.Join(", ", SupportedTextActs)})");
        if (!SupportedProjectorActs.Contains(ProjectorHiddenAct))
            throw new ConfigException(File, "projector_hidden_act", $"activation '{ProjectorHiddenAct}' is not supported ({string.Join(", ", SupportedProjectorActs)})");
        if (VisionFeatureSelectStrategy is not ("default" or "full"))
            throw new ConfigException(File, "vision_feature_select_strategy", $"'{VisionFeatureSelectStrategy}' is not supported (default, full)");
        if (Vision.PatchSize > Vision.ImageSize)
            throw new ConfigException(File, "vision_config.patch_size", $"patch_size {Vision.PatchSize} is larger than image_size {Vision.ImageSize}");
        long visionTokens = (long)Vision.GridSize * Vision.GridSize + 1;
        if (visionTokens > MaxVisionTokens)
            throw new ConfigException(File, "vision_config.image_size", $"image_size {Vision.ImageSize} / patch_size {Vision.PatchSize} gives {visionTokens} vision tokens, over the limit of {MaxVisionTokens}");
        if (visionTokens * Math.Max(Vision.HiddenSize, Vision.IntermediateSize) > MaxArrayElements
            || visionTokens * visionTokens * Vision.NumAttentionHeads > MaxArrayElements)
            throw new ConfigException(File, "vision_config.image_size", $"{visionTokens} vision tokens with width {Vision.HiddenSize}, MLP {Vision.IntermediateSize} and {Vision.NumAttentionHeads} heads need buffers larger than one array can hold");
        if ((long)Vision.NumChannels * Vision.PatchSize * Vision.PatchSize > MaxArrayElements / Math.Max(1, visionTokens))
            throw new ConfigException(File, "vision_config.patch_size", $"patches of {Vision.NumChannels}x{Vision.PatchSize}x{Vision.PatchSize} are too large");
        int idx = FeatureHiddenStateIndex;
        if (idx < 1 || idx > Vision.NumHiddenLayers)
            throw new ConfigException(File, "vision_feature_layer", $"{VisionFeatureLayer} selects hidden state {idx}, outside 1..{Vision.NumHiddenLayers}");
        if (ImageTokenIndex < 0 || ImageTokenIndex >= Text.VocabSize)
            throw new ConfigException(File, "image_token_index", $"{ImageTokenIndex} is outside the vocabulary 0..{Text.VocabSize - 1}");
        if (VideoTokenIndex is int vt && (vt >= Text.VocabSize || vt == ImageTokenIndex))
            throw new ConfigException(File, "video_token_index", $"{vt} must be in the vocabulary 0..{Text.VocabSize - 1} and differ from image_token_index");
        if (Variant == LlavaVariant.LlavaNext)
        {
            if (ImageGridPinpoints.Count == 0) throw new ConfigException(File, "image_grid_pinpoints", "LLaVA-NeXT needs at least one resolution");
            foreach (var (h, w) in ImageGridPinpoints)
                if (h % Vision.ImageSize != 0 || w % Vision.ImageSize != 0)
                    throw new ConfigException(File, "image_grid_pinpoints", $"resolution {h}x{w} is not a multiple of the tile size {Vision.ImageSize}");
            // transformers 4.45.1 raises for "full" on every anyres image (the packed grid assumes P rows per tile).
            if (KeepClsFeature) throw new ConfigException(File, "vision_feature_select_strategy", "'full' is not supported for llava_next (transformers 4.45.1 fails on it for every anyres image)");
        }
    }

    internal static void CheckNames(JsonElement e, string prefix, string? file) =>
        JsonInput.Properties(e, (key, reason) => new ConfigException(file, key is null ? (prefix.Length > 0 ? prefix.TrimEnd('.') : null) : prefix + key, reason));

    /// <summary>Typed, range-checked reads of config.json values that record defaulted and ignored keys
    /// (shared with the other families' configs).</summary>
    internal sealed class Reader(string? file, bool allowUnknown)
    {
        public readonly List<string> Defaulted = new();
        public readonly List<string> Ignored = new();

        public void CheckKeys(JsonElement e, string prefix, HashSet<string> known)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in e.EnumerateObject())
            {
                string name = JsonInput.TryGetName(p) ?? throw new ConfigException(file, prefix.TrimEnd('.') is { Length: > 0 } section ? section : null, "a key is not valid UTF-8 / Unicode");
                // JSON readers disagree on which of two equal keys wins; refuse rather than guess.
                if (!seen.Add(name)) throw new ConfigException(file, prefix + name, "the key appears twice");
                if (known.Contains(name) || GenericKeys.Contains(name)) continue;
                if (!allowUnknown)
                    throw new ConfigException(file, prefix + name, "unknown config key; it may change the computation. Pass --allow-unknown-config-keys to ignore it");
                Ignored.Add(prefix + name);
            }
        }

        bool TryGet(JsonElement e, string key, out JsonElement value)
        {
            value = default;
            return e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;
        }

        /// <summary>An integer in [min, max]: a JSON integer literal; <c>16.0</c>, <c>1e9</c>, strings and
        /// values out of range are errors naming the key.</summary>
        public int Int(JsonElement e, string prefix, string key, int fallback, int min, int max)
        {
            if (!TryGet(e, key, out var v)) { Defaulted.Add(prefix + key); return fallback; }
            return CheckedInt(v, prefix + key, min, max);
        }

        /// <summary>Like <see cref="Int"/>, but null (not a default) when the key is absent or null.</summary>
        public int? OptionalInt(JsonElement e, string prefix, string key, int min, int max) =>
            TryGet(e, key, out var v) ? CheckedInt(v, prefix + key, min, max) : null;

        int CheckedInt(JsonElement v, string key, int min, int max)
        {
            if (JsonInput.TryGetInteger(v) is not long i)
                throw new ConfigException(file, key, $"expected an integer, got {JsonInput.Show(v)}");
            if (i < min || i > max)
                throw new ConfigException(file, key, $"{i} is outside the supported range {min}..{max}");
            return (int)i;
        }

        /// <summary>A finite number in [min, max], read as a double and rounded to float32.</summary>
        public float Float(JsonElement e, string prefix, string key, float fallback, float min, float max)
        {
            if (!TryGet(e, key, out var v)) { Defaulted.Add(prefix + key); return fallback; }
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
                throw new ConfigException(file, prefix + key, $"expected a finite number, got {JsonInput.Show(v)}");
            float f = (float)d;
            if (!(f >= min && f <= max))
                throw new ConfigException(file, prefix + key, $"{d} is outside the supported range {min}..{max}");
            return f;
        }

        public string Str(JsonElement e, string prefix, string key, string fallback)
        {
            if (!TryGet(e, key, out var v)) { Defaulted.Add(prefix + key); return fallback; }
            if (v.ValueKind != JsonValueKind.String) throw new ConfigException(file, prefix + key, $"expected a string, got {JsonInput.Show(v)}");
            return JsonInput.TryGetString(v) ?? throw new ConfigException(file, prefix + key, "the string is not valid UTF-8 / Unicode");
        }

        /// <summary>A list of [height, width] pairs, each a positive integer up to 2^16.</summary>
        public IReadOnlyList<(int, int)> Pinpoints(JsonElement e, string key)
        {
            if (!TryGet(e, key, out var v)) throw new ConfigException(file, key, "missing (LLaVA-NeXT needs its anyres resolutions)");
            if (v.ValueKind != JsonValueKind.Array) throw new ConfigException(file, key, $"expected a list of [height, width] pairs, got {JsonInput.Show(v)}");
            var list = new List<(int, int)>();
            foreach (var p in v.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() != 2)
                    throw new ConfigException(file, $"{key}[{list.Count}]", $"expected [height, width], got {JsonInput.Show(p)}");
                int h = CheckedInt(p[0], $"{key}[{list.Count}][0]", 1, 1 << 16), w = CheckedInt(p[1], $"{key}[{list.Count}][1]", 1, 1 << 16);
                list.Add((h, w));
                if (list.Count > 1024) throw new ConfigException(file, key, "more than 1024 resolutions");
            }
            return list;
        }

        public bool Bool(JsonElement e, string prefix, string key, bool fallback)
        {
            if (!TryGet(e, key, out var v)) { Defaulted.Add(prefix + key); return fallback; }
            if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new ConfigException(file, prefix + key, $"expected true/false, got {JsonInput.Show(v)}");
            return v.GetBoolean();
        }
    }
}
