using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>A SentencePiece-style vocabulary as GGUF stores it (<c>tokenizer.ggml.*</c>): token texts, scores
/// and GGML token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte).</summary>
public sealed record GgufVocabulary(IReadOnlyList<string> Tokens, IReadOnlyList<float> Scores, IReadOnlyList<int> Types, int BosId, int EosId, int UnknownId, int? PaddingId)
{
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>A stand-in for checkpoints without a tokenizer (synthetic benchmarks): &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;,
    /// the 256 byte tokens, then placeholder pieces up to <paramref name="size"/>. Enough for llama.cpp to load the
    /// model and run llama-bench on random tokens; it tokenises nothing meaningfully.</summary>
    public static GgufVocabulary Synthetic(int size)
    {
        if (size < 259) throw new ArgumentOutOfRangeException(nameof(size), "a synthetic vocabulary needs room for the 3 special and 256 byte tokens");
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        (tokens[0], types[0]) = ("<unk>", Unknown);
        (tokens[1], types[1]) = ("<s>", Control);
        (tokens[2], types[2]) = ("</s>", Control);
        for (int b = 0; b < 256; b++) (tokens[3 + b], types[3 + b]) = ($"<0x{b:X2}>", Byte);
        for (int i = 259; i < size; i++)
        {
            tokens[i] = "\u2581t" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            types[i] = Normal;
            scores[i] = -i;
        }
        return new GgufVocabulary(tokens, scores, types, 1, 2, 0, null);
    }
}

/// <summary>llama.cpp's LLaVA-1.5 pair: the language model as a <c>llama</c> GGUF (what llama.cpp's HF converter
/// writes for the LLaMA part) and the vision tower + projector as a CLIP <c>mmproj</c> GGUF (what its
/// convert_image_encoder_to_gguf.py writes for LLaVA). The name tables below are the contract, both ways.</summary>
/// <remarks>
/// Conventions of those converters that a reader must undo:
/// <list type="bullet">
/// <item>attn_q / attn_k rows are permuted within each head from Hugging Face's rotate-half order to the
/// interleaved pairs llama.cpp's RoPE rotates: GGUF row h·d + 2i + s holds HF row h·d + s·d/2 + i.</item>
/// <item>The mmproj keeps every CLIP layer (<c>clip.vision.block_count</c> = L), drops post_layernorm, and calls fc1
/// <c>ffn_down</c> and fc2 <c>ffn_up</c>. Without <c>clip.vision.feature_layer</c>, clip.cpp takes a LLaVA projector's
/// features from the second-to-last layer (hidden state L−1: LLaVA's vision_feature_layer −2) and never runs the last
/// one; with it, from the hidden-state indices it lists (the converter writes them, unsigned, when the config names
/// vision_feature_layer). Files written by TokenSieve before this reader existed stored only L−1 layers, so llama.cpp
/// (and this reader) run one layer fewer on them than LLaVA does.</item>
/// <item>Norm weights and biases are F32; the patch embedding and 2-D weights are F16 in the mmproj.</item>
/// </list>
/// </remarks>
internal static class LlamaCppLlava
{
    public const string ArchitectureKey = "general.architecture";

    /// <summary>(GGUF name, canonical HF name) of the language model's tensors.</summary>
    public static IEnumerable<(string Gguf, string Hf)> LanguageModelNames(LlamaConfig t)
    {
        yield return ("token_embd.weight", TensorNames.EmbedTokens);
        yield return ("output_norm.weight", TensorNames.FinalNorm);
        yield return ("output.weight", TensorNames.LmHead);
        for (int i = 0; i < t.NumHiddenLayers; i++)
        {
            var n = TensorNames.LlamaLayer(i);
            string b = $"blk.{i}.";
            yield return (b + "attn_norm.weight", n.InputNorm);
            yield return (b + "attn_q.weight", n.Q + "weight");
            yield return (b + "attn_k.weight", n.K + "weight");
            yield return (b + "attn_v.weight", n.V + "weight");
            yield return (b + "attn_output.weight", n.O + "weight");
            yield return (b + "ffn_norm.weight", n.PostNorm);
            yield return (b + "ffn_gate.weight", n.Gate + "weight");
            yield return (b + "ffn_up.weight", n.Up + "weight");
            yield return (b + "ffn_down.weight", n.Down + "weight");
        }
    }

    /// <summary>(GGUF name, canonical HF name) of the mmproj's tensors for <paramref name="storedLayers"/> CLIP layers.</summary>
    public static IEnumerable<(string Gguf, string Hf)> ProjectorNames(int storedLayers)
    {
        var c = TensorNames.Clip;
        yield return ("v.class_embd", c.ClassEmbedding);
        yield return ("v.patch_embd.weight", c.PatchEmbedding);
        yield return ("v.position_embd.weight", c.PositionEmbedding);
        yield return ("v.pre_ln.weight", c.PreLayerNorm + "weight");
        yield return ("v.pre_ln.bias", c.PreLayerNorm + "bias");
        for (int i = 0; i < storedLayers; i++)
        {
            var n = c.LayerNames(i);
            string b = $"v.blk.{i}.";
            foreach (var (g, h) in new[] { ("attn_q", n.Q), ("attn_k", n.K), ("attn_v", n.V), ("attn_out", n.Out), ("ln1", n.LayerNorm1), ("ln2", n.LayerNorm2), ("ffn_down", n.Fc1), ("ffn_up", n.Fc2) })
            {
                yield return (b + g + ".weight", h + "weight");
                yield return (b + g + ".bias", h + "bias");
            }
        }
        yield return ("mm.0.weight", TensorNames.ProjectorLinear1 + "weight");
        yield return ("mm.0.bias", TensorNames.ProjectorLinear1 + "bias");
        yield return ("mm.2.weight", TensorNames.ProjectorLinear2 + "weight");
        yield return ("mm.2.bias", TensorNames.ProjectorLinear2 + "bias");
    }

    /// <summary>Row <c>r</c> of the GGUF tensor is HF row <c>result[r]</c>: the per-head interleave of attn_q / attn_k.</summary>
    public static int[] InterleavedRows(int rows, int heads)
    {
        int hd = rows / heads;
        var map = new int[rows];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < hd / 2; i++)
                for (int s = 0; s < 2; s++)
                    map[h * hd + 2 * i + s] = h * hd + s * (hd / 2) + i;
        return map;
    }

    /// <summary>What a 2-D language-model weight is stored as for a file of <paramref name="weightType"/>: every
    /// matrix whose rows are whole blocks (llama.cpp's <c>--pure</c>: token_embd and output included, so both
    /// engines read the same bytes); norms stay F32.</summary>
    public static DType StoredType(TensorData t, DType weightType) =>
        t.Shape.Length == 2 && t.Shape[^1] % DTypes.BlockElements(weightType) == 0 ? weightType : t.Shape.Length == 2 ? DType.F16 : DType.F32;

    /// <summary>GGML's general.file_type for an all-<paramref name="t"/> file.</summary>
    public static uint FileType(DType t) => t switch
    {
        DType.F32 => 0, DType.F16 => 1, DType.Q4_0 => 2, DType.Q8_0 => 7, DType.Q4_K => 15, DType.Q6_K => 18, DType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Writes the language model of <paramref name="source"/> as a llama.cpp <c>llama</c> GGUF.</summary>
    public static void WriteLanguageModel(ITensorSource source, LlavaConfig config, GgufVocabulary vocab, DType weightType, string path, string name)
    {
        var t = config.Text;
        if (vocab.Tokens.Count != t.VocabSize)
            throw new InvalidInputException($"the vocabulary has {vocab.Tokens.Count} tokens but the model's embeddings have {t.VocabSize} rows");
        var w = new GgufWriter()
            .Add(ArchitectureKey, "llama")
            .Add("general.name", name)
            .Add("general.file_type", FileType(weightType))
            .Add("general.quantization_version", 2u)
            .Add("llama.vocab_size", (uint)t.VocabSize)
            .Add("llama.context_length", (uint)t.MaxPositionEmbeddings)
            .Add("llama.embedding_length", (uint)t.HiddenSize)
            .Add("llama.block_count", (uint)t.NumHiddenLayers)
            .Add("llama.feed_forward_length", (uint)t.IntermediateSize)
            .Add("llama.rope.dimension_count", (uint)t.HeadDim)
            .Add("llama.attention.head_count", (uint)t.NumAttentionHeads)
            .Add("llama.attention.head_count_kv", (uint)t.NumKeyValueHeads)
            .Add("llama.attention.layer_norm_rms_epsilon", t.RmsNormEps)
            .Add("llama.rope.freq_base", t.RopeTheta)
            .Add("tokenizer.ggml.model", "llama")
            .Add("tokenizer.ggml.tokens", vocab.Tokens)
            .Add("tokenizer.ggml.scores", vocab.Scores)
            .Add("tokenizer.ggml.token_type", vocab.Types)
            .Add("tokenizer.ggml.bos_token_id", (uint)vocab.BosId)
            .Add("tokenizer.ggml.eos_token_id", (uint)vocab.EosId)
            .Add("tokenizer.ggml.unknown_token_id", (uint)vocab.UnknownId)
            .Add("tokenizer.ggml.add_bos_token", true)
            .Add("tokenizer.ggml.add_eos_token", false);
        if (vocab.PaddingId is int pad) w.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        foreach (var (gguf, hf) in LanguageModelNames(t))
        {
            var tensor = hf == TensorNames.LmHead && !source.Contains(hf) && t.TieWordEmbeddings ? source.Get(TensorNames.EmbedTokens) : source.Get(hf);
            var type = StoredType(tensor, weightType);
            int[]? rows = gguf.EndsWith("attn_q.weight", StringComparison.Ordinal) ? InterleavedRows(tensor.Shape[0], t.NumAttentionHeads)
                : gguf.EndsWith("attn_k.weight", StringComparison.Ordinal) ? InterleavedRows(tensor.Shape[0], t.NumKeyValueHeads)
                : null;
            w.AddTensor(gguf, type, tensor.Shape, s => TensorEncoding.Write(tensor, type, s, rows));
        }
        w.Write(path);
    }

    /// <summary>Writes the vision tower (every CLIP layer, post_layernorm dropped) and projector as a llama.cpp mmproj GGUF.
    /// 2-D weights and the patch embedding are F16 (as llama.cpp's converter stores them) unless
    /// <paramref name="weightType"/> is F32; norms, biases and embeddings F32.</summary>
    public static void WriteProjector(ITensorSource source, LlavaConfig config, string path, string name, DType weightType = DType.F16,
        IReadOnlyList<float>? imageMean = null, IReadOnlyList<float>? imageStd = null)
    {
        if (config.Variant != LlavaVariant.Llava || config.KeepClsFeature)
            throw new InvalidInputException("the llama.cpp mmproj format holds LLaVA-1.5 models (vision_feature_select_strategy 'default')");
        var v = config.Vision;
        int stored = v.NumHiddenLayers;
        var w = new GgufWriter()
            .Add(ArchitectureKey, "clip")
            .Add("clip.has_text_encoder", false)
            .Add("clip.has_vision_encoder", true)
            .Add("clip.has_llava_projector", true)
            .Add("general.file_type", weightType == DType.F32 ? 0u : 1u)
            .Add("general.name", name)
            .Add("general.description", "image encoder for LLaVA")
            .Add("clip.projector_type", "mlp")
            .Add("clip.vision.image_size", (uint)v.ImageSize)
            .Add("clip.vision.patch_size", (uint)v.PatchSize)
            .Add("clip.vision.embedding_length", (uint)v.HiddenSize)
            .Add("clip.vision.feed_forward_length", (uint)v.IntermediateSize)
            .Add("clip.vision.projection_dim", (uint)config.Text.HiddenSize)
            .Add("clip.vision.attention.head_count", (uint)v.NumAttentionHeads)
            .Add("clip.vision.attention.layer_norm_epsilon", v.LayerNormEps)
            .Add("clip.vision.block_count", (uint)stored)
            .Add("clip.vision.image_mean", imageMean ?? [0.48145466f, 0.4578275f, 0.40821073f])
            .Add("clip.vision.image_std", imageStd ?? [0.26862954f, 0.26130258f, 0.27577711f])
            .Add("clip.use_gelu", v.HiddenAct == "gelu");
        // LLaVA-1.5's −2 is clip.cpp's default; any other feature layer is named as the converter names it.
        if (config.FeatureHiddenStateIndex != stored - 1) w.Add("clip.vision.feature_layer", new[] { config.FeatureHiddenStateIndex });
        foreach (var (gguf, hf) in ProjectorNames(stored))
        {
            var tensor = source.Get(hf);
            var type = tensor.Shape.Length >= 2 && weightType != DType.F32 ? DType.F16 : DType.F32;
            w.AddTensor(gguf, type, tensor.Shape, s => TensorEncoding.Write(tensor, type, s));
        }
        w.Write(path);
    }
}
