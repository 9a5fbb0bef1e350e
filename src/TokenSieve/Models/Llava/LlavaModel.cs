using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

public sealed record ModelLoadOptions
{
    /// <summary>Load this file from the folder instead of model.safetensors / the shard index.</summary>
    public string? WeightsFile { get; init; }
    public bool AllowUnknownConfigKeys { get; init; }
    /// <summary>Tensors in the checkpoint that no model part uses are an error unless this is set.</summary>
    public bool AllowUnexpectedTensors { get; init; }
    /// <summary>Quantise the language model's matrices to this GGML block type while loading (Q8_0, Q4_0;
    /// <see cref="QuantizedWeights"/>); null keeps the stored types.</summary>
    public DType? WeightType { get; init; }
    /// <summary>Threads for quantising at load (null: all cores).</summary>
    public ComputeContext? Compute { get; init; }
}

/// <summary>A llava-hf model folder loaded for inference: config with defaults, memory-mapped
/// weights, the three parts. Weights stay in their stored dtype. One class for the variants that
/// share CLIP, projector and LLaMA decoder: LLaVA-1.5, LLaVA-NeXT (adds <see cref="ImageNewline"/>)
/// and Video-LLaVA (its image tower is <see cref="Vision"/>, plus <see cref="VideoVision"/>).</summary>
public sealed class LlavaModel : IDisposable
{
    /// <summary>The model folder; for a llama.cpp pair (<see cref="LoadGgufPair"/>), the language model's GGUF file.</summary>
    public string Directory { get; }
    public LlavaConfig Config { get; }
    public CheckpointReader Weights { get; }
    public ClipVisionTower Vision { get; }
    public Projector Projector { get; }
    public LlamaDecoder Decoder { get; }
    /// <summary>Video-LLaVA's video tower; null for the other variants.</summary>
    public ClipVisionTower? VideoVision { get; }
    /// <summary>LLaVA-NeXT's learned row separator [text hidden]; null for the other variants.</summary>
    public float[]? ImageNewline { get; }

    /// <summary>What the language model's matrices run in: the quantised type, or the stored type of the embeddings.</summary>
    public DType WeightType { get; }

    /// <summary>Bytes of all weights as the model holds them (quantised matrices at their quantised size).</summary>
    public long WeightBytes { get; }

    /// <summary>The vocabulary stored with the weights (a llama.cpp pair's <c>tokenizer.ggml.*</c>); null for a folder,
    /// whose tokenizer is its tokenizer.model. <see cref="CreateTokenizer"/> picks the right one.</summary>
    public GgufVocabulary? Vocabulary { get; private init; }
    /// <summary>Whether <see cref="Vocabulary"/> encodes with SentencePiece's dummy space prefix (<c>tokenizer.ggml.add_space_prefix</c>).</summary>
    public bool VocabularyAddsSpacePrefix { get; private init; } = true;
    /// <summary>Image preprocessing stored with the weights (a llama.cpp mmproj's image size, mean and std); null for a
    /// folder, whose preprocessor_config.json (or CLIP's defaults) applies.</summary>
    public Imaging.ImageProcessorConfig? ImageProcessing { get; private init; }

    LlavaModel(string directory, LlavaConfig config, CheckpointReader weights, DType? quantize = null, ComputeContext? compute = null, bool interleavedQk = false)
    {
        Directory = directory;
        Config = config;
        Weights = weights;
        ITensorSource source = quantize is DType q ? new QuantizingTensorSource(weights, q, config.Text, compute) : weights;
        WeightType = source.Get(TensorNames.EmbedTokens).DType;
        bool video = config.Variant == LlavaVariant.VideoLlava;
        Vision = new ClipVisionTower(weights, config.Vision, config.FeatureHiddenStateIndex, video ? new ClipTowerNames(TensorNames.ImageTower) : TensorNames.Clip);
        if (video) VideoVision = new ClipVisionTower(weights, config.Vision, config.FeatureHiddenStateIndex, new ClipTowerNames(TensorNames.VideoTower));
        if (config.Variant == LlavaVariant.LlavaNext) ImageNewline = weights.Get(TensorNames.ImageNewline).ExpectShape(config.Text.HiddenSize).ToFloats();
        Projector = new Projector(weights, config.Vision.HiddenSize, config.Text.HiddenSize, config.ProjectorBias);
        Decoder = new LlamaDecoder(source, config.Text, DecoderTensorNames.Llava, interleavedQk);
        WeightBytes = weights.Names.Sum(n => source.Get(n).ByteLength);
    }

    public static LlavaModel Load(string directory, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        if (!System.IO.Directory.Exists(directory)) throw new CheckpointException(directory, null, "model folder not found");
        var config = LlavaConfig.Load(Path.Combine(directory, "config.json"), options.AllowUnknownConfigKeys);
        var weights = CheckpointReader.Open(directory, options.WeightsFile);
        try
        {
            CheckAgainstConfig(weights, config);
            if (!options.AllowUnexpectedTensors) CheckUnexpected(weights, config);
            return new LlavaModel(directory, config, weights, options.WeightType, options.Compute);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Loads llama.cpp's LLaVA-1.5 pair: the language model GGUF (architecture <c>llama</c>, as llama.cpp's
    /// converter writes it or <c>tokensieve quantize --format llama.cpp</c>) and its <c>mmproj</c> GGUF (architecture
    /// <c>clip</c>, projector <c>mlp</c>). The config comes from the files' metadata, the tokenizer from
    /// <c>tokenizer.ggml.*</c> (<see cref="Vocabulary"/>), the image preprocessing from <c>clip.vision.*</c>. Weights stay
    /// memory-mapped in their stored types (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K); attn_q / attn_k keep llama.cpp's
    /// interleaved rows, and the decoder scatters their outputs back to Hugging Face's order.
    /// <see cref="ModelLoadOptions.WeightType"/> quantises the language model at load as for a folder.</summary>
    public static LlavaModel LoadGgufPair(string languageModelPath, string mmprojPath, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        if (options.WeightsFile is not null) throw new InvalidInputException("a llama.cpp pair is two files; WeightsFile does not apply");
        foreach (var p in new[] { languageModelPath, mmprojPath })
            if (!File.Exists(p)) throw new CheckpointException(p, null, "file not found");
        GgufFile? lm = null, mmproj = null;
        CheckpointReader? weights = null;
        try
        {
            lm = GgufFile.Open(languageModelPath);
            mmproj = GgufFile.Open(mmprojPath);
            var pair = LlamaCppPair.Read(lm, mmproj);
            LlamaCppPair.CheckTensors(lm, mmproj, pair.Config, options.AllowUnexpectedTensors);
            weights = CheckpointReader.OpenLlamaCppPair(lm, mmproj, pair.Config);
            int size = pair.Config.Vision.ImageSize;
            var image = Imaging.ImageProcessorConfig.Default with
            {
                ShortestEdge = size, CropHeight = size, CropWidth = size,
                ImageMean = pair.ImageMean ?? Imaging.ImageProcessorConfig.ClipMean, ImageStd = pair.ImageStd ?? Imaging.ImageProcessorConfig.ClipStd,
            };
            return new LlavaModel(languageModelPath, pair.Config, weights, options.WeightType, options.Compute, interleavedQk: true)
            {
                Vocabulary = pair.Vocabulary, VocabularyAddsSpacePrefix = pair.AddSpacePrefix, ImageProcessing = image,
            };
        }
        catch
        {
            weights?.Dispose();
            lm?.Dispose();
            mmproj?.Dispose();
            throw;
        }
    }

    /// <summary>The model's tokenizer: the vocabulary stored with its weights (a llama.cpp pair), else the folder's
    /// tokenizer.model and added_tokens.json.</summary>
    public Text.SentencePieceBpeTokenizer CreateTokenizer() =>
        Vocabulary is { } v ? TokenizerFor(v, VocabularyAddsSpacePrefix, Directory) : Text.SentencePieceBpeTokenizer.FromModelFolder(Directory);

    /// <summary>A SentencePiece tokenizer over a GGUF vocabulary (<see cref="Text.SentencePieceBpeTokenizer.FromVocabulary"/>).</summary>
    public static Text.SentencePieceBpeTokenizer TokenizerFor(GgufVocabulary v, bool addSpacePrefix = true, string source = "GGUF vocabulary") =>
        Text.SentencePieceBpeTokenizer.FromVocabulary(v.Tokens, v.Scores, v.Types, v.BosId, v.EosId, v.UnknownId, v.PaddingId, addSpacePrefix, source);

    /// <summary>All tensor names a model with this config reads.</summary>
    public static HashSet<string> ExpectedTensorNames(LlavaConfig config)
    {
        // lm_head may be stored even when tied to the embeddings; the decoder then uses it.
        var names = LlavaSchema.Tensors(config).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        names.Add(TensorNames.LmHead);
        return names;
    }

    /// <summary>Before any part is built: every tensor the config implies is present with its shape
    /// (from the headers alone), so a config that disagrees with the checkpoint — more layers, another
    /// width — fails naming the first tensor at fault and how many are missing.</summary>
    static void CheckAgainstConfig(CheckpointReader weights, LlavaConfig config)
    {
        var missing = new List<string>();
        foreach (var spec in LlavaSchema.Tensors(config))
        {
            if (!weights.Contains(spec.Name))
            {
                // post_layernorm is unused by LLaVA and may be left out of a checkpoint.
                if (!spec.Name.Contains("post_layernorm.", StringComparison.Ordinal)) missing.Add(spec.Name);
                continue;
            }
            var t = weights.Get(spec.Name);
            if (!t.Shape.SequenceEqual(spec.Shape))
                throw new CheckpointException(weights.Directory, spec.Name,
                    $"shape [{string.Join(",", t.Shape)}] does not match the config, expected [{string.Join(",", spec.Shape)}]; the config does not describe this checkpoint");
        }
        if (missing.Count > 0)
            throw new CheckpointException(weights.Directory, missing[0],
                $"{missing.Count} tensor(s) the config implies are missing (first: '{missing[0]}'); the config does not describe this checkpoint (e.g. num_hidden_layers)");
    }

    static void CheckUnexpected(CheckpointReader weights, LlavaConfig config)
    {
        var expected = ExpectedTensorNames(config);
        var unexpected = weights.Names.Where(n => !expected.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (unexpected.Count > 0)
            throw new CheckpointException(weights.Directory, unexpected[0],
                $"{unexpected.Count} tensor(s) in the checkpoint are not used by a {LlavaConfig.ModelTypeOf(config.Variant)} model with this config (first: '{unexpected[0]}'); wrong config, or a different architecture");
    }

    public long ParameterCount => Weights.Names.Sum(n => Weights.Get(n).ElementCount);

    public void Dispose() => Weights.Dispose();
}
