namespace TokenSieve.Checkpoints;

/// <summary>What a llama.cpp LLaVA-1.5 pair says about the model it holds, read from GGUF metadata alone: the
/// language model's <c>llama.*</c> and <c>tokenizer.ggml.*</c> keys, the mmproj's <c>clip.*</c> keys. The key names
/// are those llama.cpp's converters write (convert_hf_to_gguf.py for the language model, the LLaVA example's
/// convert_image_encoder_to_gguf.py for the mmproj) and <see cref="LlamaCppLlava"/> writes.</summary>
/// <remarks>
/// The resulting <see cref="LlavaConfig"/> describes the pair as stored: the vision tower has
/// <c>clip.vision.block_count</c> layers and the features are the hidden state clip.cpp takes for a LLaVA projector
/// (<c>clip.vision.feature_layer</c> when present, else the second-to-last layer's output: LLaVA's −2). Every failure
/// is a <see cref="ConfigException"/> naming the file and the key.
/// </remarks>
internal static class LlamaCppPair
{
    /// <summary>The config, vocabulary and image preprocessing of a pair.</summary>
    /// <summary>The config, vocabulary and image normalisation of a pair (mean/std null: CLIP's).</summary>
    public sealed record Description(LlavaConfig Config, GgufVocabulary Vocabulary, bool AddSpacePrefix, double[]? ImageMean, double[]? ImageStd);

    public static Description Read(GgufFile lm, GgufFile mmproj)
    {
        string arch = Str(lm, "general.architecture");
        if (arch != "llama")
            throw new ConfigException(lm.Path, "general.architecture", $"'{TokenSieveException.Printable(arch)}' is not 'llama'; the language model of a LLaVA-1.5 pair is a llama GGUF");
        string clipArch = Str(mmproj, "general.architecture");
        if (clipArch != "clip")
            throw new ConfigException(mmproj.Path, "general.architecture", $"'{TokenSieveException.Printable(clipArch)}' is not 'clip'; --mmproj takes llama.cpp's CLIP image encoder GGUF");
        string projector = mmproj.TryGetString("clip.projector_type") ?? "mlp"; // clip.cpp's default when absent
        if (projector != "mlp")
            throw new ConfigException(mmproj.Path, "clip.projector_type", $"'{TokenSieveException.Printable(projector)}' is not supported (LLaVA-1.5's 'mlp' is)");
        if (mmproj.TryGetBool("clip.has_vision_encoder") == false)
            throw new ConfigException(mmproj.Path, "clip.has_vision_encoder", "is false: the mmproj holds no vision encoder");
        if (mmproj.TryGetBool("clip.has_llava_projector") == false)
            throw new ConfigException(mmproj.Path, "clip.has_llava_projector", "is false: the mmproj holds no LLaVA projector");
        if (mmproj.TryGetString("clip.vision.mm_patch_merge_type") is { } merge && merge != "flat")
            throw new ConfigException(mmproj.Path, "clip.vision.mm_patch_merge_type", $"'{TokenSieveException.Printable(merge)}' (LLaVA-NeXT anyres) is not supported; LLaVA-1.5's is 'flat'");

        var defaulted = new List<string>();
        var vocab = Vocabulary(lm);
        int hidden = Int(lm, "llama.embedding_length", 1, LlavaConfig.MaxHiddenSize);
        int heads = Int(lm, "llama.attention.head_count", 1, LlavaConfig.MaxHiddenSize);
        int kvHeads = lm.Has("llama.attention.head_count_kv") ? Int(lm, "llama.attention.head_count_kv", 1, LlavaConfig.MaxHiddenSize) : Default(defaulted, "llama.attention.head_count_kv", heads);
        if (hidden % heads != 0) throw new ConfigException(lm.Path, "llama.attention.head_count", $"embedding_length {hidden} is not divisible by {heads} heads");
        if (lm.Has("llama.rope.dimension_count") && Int(lm, "llama.rope.dimension_count", 1, LlavaConfig.MaxHiddenSize) != hidden / heads)
            throw new ConfigException(lm.Path, "llama.rope.dimension_count", $"{lm.GetInteger("llama.rope.dimension_count")} is not the head size {hidden / heads}; partial RoPE is not supported");
        if (lm.TryGetString("llama.rope.scaling.type") is { } scaling && scaling != "none")
            throw new ConfigException(lm.Path, "llama.rope.scaling.type", $"RoPE scaling '{TokenSieveException.Printable(scaling)}' is not supported");
        if (lm.TryGetInteger("llama.expert_count") is > 0)
            throw new ConfigException(lm.Path, "llama.expert_count", "mixture-of-experts models are not supported");
        if (lm.Has("llama.vocab_size") && Int(lm, "llama.vocab_size", 1, LlavaConfig.MaxVocabSize) != vocab.Tokens.Count)
            throw new ConfigException(lm.Path, "llama.vocab_size", $"{lm.GetInteger("llama.vocab_size")} disagrees with the {vocab.Tokens.Count} tokens of tokenizer.ggml.tokens");
        var text = new LlamaConfig(
            VocabSize: vocab.Tokens.Count,
            HiddenSize: hidden,
            IntermediateSize: Int(lm, "llama.feed_forward_length", 1, LlavaConfig.MaxIntermediateSize),
            NumHiddenLayers: Int(lm, "llama.block_count", 1, LlavaConfig.MaxLayers),
            NumAttentionHeads: heads,
            NumKeyValueHeads: kvHeads,
            HiddenAct: "silu",
            MaxPositionEmbeddings: Int(lm, "llama.context_length", 1, LlavaConfig.MaxPositionEmbeddingsLimit),
            RmsNormEps: Float(lm, "llama.attention.layer_norm_rms_epsilon", 0, 1),
            RopeTheta: lm.Has("llama.rope.freq_base") ? Float(lm, "llama.rope.freq_base", float.Epsilon, float.MaxValue) : Default(defaulted, "llama.rope.freq_base", 10000f),
            BosTokenId: vocab.BosId,
            EosTokenId: vocab.EosId,
            // llama.cpp reuses token_embd when a file has no output.weight.
            TieWordEmbeddings: !lm.Contains("output.weight"));

        int imageSize = Int(mmproj, "clip.vision.image_size", 1, LlavaConfig.MaxImageSize);
        var vision = new ClipVisionConfig(
            HiddenSize: Int(mmproj, "clip.vision.embedding_length", 1, LlavaConfig.MaxHiddenSize),
            IntermediateSize: Int(mmproj, "clip.vision.feed_forward_length", 1, LlavaConfig.MaxIntermediateSize),
            NumHiddenLayers: Int(mmproj, "clip.vision.block_count", 1, LlavaConfig.MaxLayers),
            NumAttentionHeads: Int(mmproj, "clip.vision.attention.head_count", 1, LlavaConfig.MaxHiddenSize),
            NumChannels: 3,
            ImageSize: imageSize,
            PatchSize: Int(mmproj, "clip.vision.patch_size", 1, LlavaConfig.MaxImageSize),
            HiddenAct: (mmproj.TryGetBool("clip.use_gelu") ?? Default(defaulted, "clip.use_gelu", false)) ? "gelu" : "quick_gelu",
            LayerNormEps: Float(mmproj, "clip.vision.attention.layer_norm_epsilon", 0, 1));
        if (mmproj.TryGetInteger("clip.vision.projection_dim") is long proj && proj != hidden)
            throw new ConfigException(mmproj.Path, "clip.vision.projection_dim", $"{proj} is not the language model's embedding_length {hidden} ({lm.Path}); the two files are not a pair");

        // clip.cpp's LLaVA features: the hidden state named by clip.vision.feature_layer (unsigned; 0 = embeddings after
        // the pre-norm, i = output of layer i−1), else the second-to-last layer's output (LLaVA's −2).
        int feature = vision.NumHiddenLayers - 1;
        if (mmproj.Has("clip.vision.feature_layer"))
        {
            var layers = Array<long>(mmproj, "clip.vision.feature_layer");
            if (layers.Length != 1)
                throw new ConfigException(mmproj.Path, "clip.vision.feature_layer", $"{layers.Length} feature layers; one is supported (multi-layer features are not)");
            if (layers[0] < 1 || layers[0] > vision.NumHiddenLayers)
                throw new ConfigException(mmproj.Path, "clip.vision.feature_layer", $"{layers[0]} is outside 1..{vision.NumHiddenLayers} (clip.vision.block_count)");
            feature = (int)layers[0];
        }
        else if (vision.NumHiddenLayers < 2)
            throw new ConfigException(mmproj.Path, "clip.vision.block_count", "LLaVA's features are the second-to-last layer's output; one layer is too few");

        var config = new LlavaConfig(vision, text, ImageTokenIndex: ImagePlaceholder(vocab), PadTokenId: vocab.PaddingId, ProjectorHiddenAct: "gelu",
            VisionFeatureLayer: feature, VisionFeatureSelectStrategy: "default", ProjectorBias: true, Defaulted: defaulted, IgnoredKeys: [], File: $"{lm.Path} + {mmproj.Path}");
        // The config's own checks (divisibility, token counts, feature layer); their errors name both files.
        config.Validate();

        var mean = Triple(mmproj, "clip.vision.image_mean", defaulted);
        var std = Triple(mmproj, "clip.vision.image_std", defaulted);
        bool addSpacePrefix = lm.TryGetBool("tokenizer.ggml.add_space_prefix") ?? true;
        return new Description(config, vocab, addSpacePrefix, mean, std);
    }

    /// <summary>The id the prompt's image slot takes: <c>&lt;image&gt;</c> where the vocabulary has it (llava-hf
    /// conversions), else a padding token of the converter (<c>[PADn]</c>), else &lt;unk&gt; — ids that encoding text
    /// does not produce (LLaMA's vocabulary falls back to bytes, never to &lt;unk&gt;). The slot is replaced by the
    /// visual tokens and never embedded.</summary>
    static int ImagePlaceholder(GgufVocabulary v)
    {
        for (int i = 0; i < v.Tokens.Count; i++)
            if (v.Tokens[i] == "<image>") return i;
        for (int i = 0; i < v.Tokens.Count; i++)
            if (v.Tokens[i] == $"[PAD{i}]") return i; // llama.cpp's converter pads the vocabulary with these

        return v.UnknownId;
    }

    /// <summary><c>tokenizer.ggml.*</c> of a llama GGUF: model "llama" (SentencePiece), tokens, scores, token types and
    /// the special ids.</summary>
    public static GgufVocabulary Vocabulary(GgufFile lm)
    {
        string model = Str(lm, "tokenizer.ggml.model");
        if (model != "llama")
            throw new ConfigException(lm.Path, "tokenizer.ggml.model", $"'{TokenSieveException.Printable(model)}' is not supported (SentencePiece 'llama' is)");
        var tokens = Array<string>(lm, "tokenizer.ggml.tokens");
        if (tokens.Length == 0) throw new ConfigException(lm.Path, "tokenizer.ggml.tokens", "is empty");
        var scores = lm.Has("tokenizer.ggml.scores") ? Array<double>(lm, "tokenizer.ggml.scores") : new double[tokens.Length];
        var types = lm.Has("tokenizer.ggml.token_type") ? Array<long>(lm, "tokenizer.ggml.token_type") : Enumerable.Repeat((long)GgufVocabulary.Normal, tokens.Length).ToArray();
        if (scores.Length != tokens.Length) throw new ConfigException(lm.Path, "tokenizer.ggml.scores", $"{scores.Length} scores for {tokens.Length} tokens");
        if (types.Length != tokens.Length) throw new ConfigException(lm.Path, "tokenizer.ggml.token_type", $"{types.Length} types for {tokens.Length} tokens");
        for (int i = 0; i < types.Length; i++)
            if (types[i] is < GgufVocabulary.Normal or > GgufVocabulary.Byte)
                throw new ConfigException(lm.Path, "tokenizer.ggml.token_type", $"token {i} has type {types[i]}, outside 1..6");
        int Id(string key, int fallback)
        {
            if (!lm.Has(key)) return fallback;
            long v = lm.GetInteger(key);
            if (v < 0 || v >= tokens.Length) throw new ConfigException(lm.Path, key, $"{v} is outside the {tokens.Length} tokens");
            return (int)v;
        }
        int? pad = lm.Has("tokenizer.ggml.padding_token_id") ? Id("tokenizer.ggml.padding_token_id", -1) : null;
        // llama.cpp's defaults for a SentencePiece vocabulary without the keys.
        return new GgufVocabulary(tokens, scores.Select(s => (float)s).ToArray(), types.Select(t => (int)t).ToArray(),
            Id("tokenizer.ggml.bos_token_id", 1), Id("tokenizer.ggml.eos_token_id", 2), Id("tokenizer.ggml.unknown_token_id", 0), pad);
    }

    /// <summary>Every tensor the metadata implies is in its file with the shape the metadata gives, and (unless
    /// <paramref name="allowUnexpected"/>) neither file holds a tensor outside llama.cpp's LLaVA-1.5 names. Errors
    /// name the file and the GGUF tensor.</summary>
    public static void CheckTensors(GgufFile lm, GgufFile mmproj, LlavaConfig config, bool allowUnexpected)
    {
        var specs = LlavaSchema.Tensors(config).ToDictionary(s => s.Name, s => s.Shape, StringComparer.Ordinal);
        foreach (var (file, names, what) in new[]
        {
            (lm, LlamaCppLlava.LanguageModelNames(config.Text).ToList(), "llama.block_count / embedding_length / feed_forward_length / head counts"),
            (mmproj, LlamaCppLlava.ProjectorNames(config.Vision.NumHiddenLayers).ToList(), "clip.vision.block_count / embedding_length / feed_forward_length / image_size / patch_size"),
        })
        {
            foreach (var (gguf, hf) in names)
            {
                if (!specs.TryGetValue(hf, out var shape)) continue; // output.weight of a tied model
                if (!file.Contains(gguf))
                    throw new CheckpointException(file.Path, gguf, $"tensor missing: the metadata ({what}) implies it");
                var t = file.Get(gguf);
                if (!t.Shape.AsSpan().SequenceEqual(shape))
                    throw new CheckpointException(file.Path, gguf, $"shape {t.ShapeText} disagrees with the metadata ({what}), which implies [{string.Join(",", shape)}]");
            }
            if (allowUnexpected) continue;
            var known = names.Select(n => n.Gguf).ToHashSet(StringComparer.Ordinal);
            foreach (var name in file.TensorOrder)
                if (!known.Contains(name))
                    throw new CheckpointException(file.Path, name, "not a tensor of llama.cpp's LLaVA-1.5 pair with this metadata (wrong file, another architecture, or more layers than the metadata says)");
        }
    }

    static T Default<T>(List<string> defaulted, string key, T value)
    {
        defaulted.Add(key);
        return value;
    }

    static object Value(GgufFile f, string key) =>
        f.Metadata.TryGetValue(key, out var v) ? v : throw new ConfigException(f.Path, key, "metadata key is missing");

    static string Str(GgufFile f, string key) =>
        Value(f, key) as string ?? throw new ConfigException(f.Path, key, "is not a string");

    static int Int(GgufFile f, string key, int min, int max)
    {
        if (Value(f, key) is not long v) throw new ConfigException(f.Path, key, "is not an integer");
        if (v < min || v > max) throw new ConfigException(f.Path, key, $"{v} is outside the supported range {min}..{max}");
        return (int)v;
    }

    static float Float(GgufFile f, string key, float min, float max)
    {
        double d = Value(f, key) switch { double x => x, long l => l, _ => throw new ConfigException(f.Path, key, "is not a number") };
        float v = (float)d;
        if (!(v >= min && v <= max)) throw new ConfigException(f.Path, key, $"{d} is outside the supported range {min}..{max}");
        return v;
    }

    static T[] Array<T>(GgufFile f, string key) =>
        Value(f, key) as T[] ?? throw new ConfigException(f.Path, key, $"is not an array of {(typeof(T) == typeof(long) ? "integers" : typeof(T) == typeof(double) ? "numbers" : "strings")}");

    static double[]? Triple(GgufFile f, string key, List<string> defaulted)
    {
        if (!f.Has(key)) { defaulted.Add(key); return null; }
        var a = Array<double>(f, key);
        if (a.Length != 3 || a.Any(x => !double.IsFinite(x))) throw new ConfigException(f.Path, key, $"expected 3 finite numbers, got {a.Length} values");
        if (key.EndsWith("std", StringComparison.Ordinal) && a.Any(x => x <= 0)) throw new ConfigException(f.Path, key, "standard deviations must be positive");
        return a;
    }
}
