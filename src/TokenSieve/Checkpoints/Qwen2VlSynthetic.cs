using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Random-weight Qwen2-VL checkpoints of the published shapes (or any config), in the folder
/// layout transformers writes, for speed and memory work and for tests of shapes the fixture does not
/// have. Values as <see cref="SyntheticCheckpoint"/> writes them; answers are meaningless.</summary>
public static class Qwen2VlSynthetic
{
    public sealed record Shape(string Name, Qwen2VlConfig Config, string Description);

    /// <summary>The published Qwen2-VL vision tower (675M): 32 blocks of 1280, 16 heads, patch 14, 2×2 merge.</summary>
    static Qwen2VlVisionConfig Tower(int hidden) => new(32, 1280, hidden, "quick_gelu", 4, 16, 3, 14, 2, 2);

    static Qwen2VlConfig Published(LlamaConfig text) => new(Tower(text.HiddenSize), text with { AttentionBias = true, MropeSection = [16, 24, 24] },
        ImageTokenId: 151655, VideoTokenId: 151656, VisionStartTokenId: 151652, VisionEndTokenId: 151653, Defaulted: [], IgnoredKeys: [], File: null);

    public static readonly IReadOnlyList<Shape> Shapes =
    [
        new("qwen2-vl-2b", Published(new LlamaConfig(151936, 1536, 8960, 28, 12, 2, "silu", 32768, 1e-6f, 1000000f, 151643, 151645, true)),
            "Qwen2-VL-2B-Instruct: 675M vision tower + Qwen2-1.5B decoder (28 layers, 1536 wide, 12 heads / 2 kv, tied lm_head)"),
        new("qwen2-vl-7b", Published(new LlamaConfig(152064, 3584, 18944, 28, 28, 4, "silu", 32768, 1e-6f, 1000000f, 151643, 151645, false)),
            "Qwen2-VL-7B-Instruct: 675M vision tower + Qwen2-7B decoder (28 layers, 3584 wide, 28 heads / 4 kv)"),
    ];

    public static Shape? Find(string name) => Shapes.FirstOrDefault(s => s.Name == name);

    /// <summary>Bytes the weights take in <paramref name="dtype"/>.</summary>
    public static long WeightBytes(Qwen2VlConfig config, DType dtype) => Qwen2VlSchema.Tensors(config).Sum(t => t.Count) * DTypes.SizeOf(dtype);

    /// <summary>Writes config.json, preprocessor_config.json (the published min/max pixels unless given) and
    /// model.safetensors into <paramref name="directory"/>.</summary>
    public static void Write(string directory, string name, Qwen2VlConfig config, DType dtype, ulong seed = 1, IProgress<(long Done, long Total)>? progress = null,
        int minPixels = 3136, int maxPixels = 12845056)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), ConfigJson(config, dtype));
        File.WriteAllText(Path.Combine(directory, "preprocessor_config.json"), PreprocessorJson(config.Vision, minPixels, maxPixels));
        SyntheticCheckpoint.WriteWeights(Path.Combine(directory, "model.safetensors"), name, Qwen2VlSchema.Tensors(config).ToList(), dtype, seed, progress);
    }

    /// <summary>config.json as transformers 4.45 writes a Qwen2VLConfig (text settings at the top level),
    /// every key spelled out, rope_scaling as the published checkpoints have it.</summary>
    public static string ConfigJson(Qwen2VlConfig c, DType dtype = DType.F32)
    {
        var t = c.Text;
        var v = c.Vision;
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2VLForConditionalGeneration"),
            ["bos_token_id"] = t.BosTokenId,
            ["eos_token_id"] = t.EosTokenId,
            ["hidden_act"] = t.HiddenAct,
            ["hidden_size"] = t.HiddenSize,
            ["image_token_id"] = c.ImageTokenId,
            ["intermediate_size"] = t.IntermediateSize,
            ["max_position_embeddings"] = t.MaxPositionEmbeddings,
            ["model_type"] = Qwen2VlConfig.ModelType,
            ["num_attention_heads"] = t.NumAttentionHeads,
            ["num_hidden_layers"] = t.NumHiddenLayers,
            ["num_key_value_heads"] = t.NumKeyValueHeads,
            ["rms_norm_eps"] = t.RmsNormEps,
            ["rope_scaling"] = new JsonObject { ["type"] = "mrope", ["mrope_section"] = new JsonArray(t.MropeSection!.Select(x => (JsonNode)x).ToArray()) },
            ["rope_theta"] = t.RopeTheta,
            ["tie_word_embeddings"] = t.TieWordEmbeddings,
            ["torch_dtype"] = dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" },
            ["use_sliding_window"] = false,
            ["video_token_id"] = c.VideoTokenId,
            ["vision_config"] = new JsonObject
            {
                ["depth"] = v.Depth,
                ["embed_dim"] = v.EmbedDim,
                ["hidden_act"] = v.HiddenAct,
                ["hidden_size"] = v.HiddenSize,
                ["in_channels"] = v.InChannels,
                ["mlp_ratio"] = v.MlpRatio,
                ["model_type"] = Qwen2VlConfig.ModelType,
                ["num_heads"] = v.NumHeads,
                ["patch_size"] = v.PatchSize,
                ["spatial_merge_size"] = v.SpatialMergeSize,
                ["temporal_patch_size"] = v.TemporalPatchSize,
            },
            ["vision_end_token_id"] = c.VisionEndTokenId,
            ["vision_start_token_id"] = c.VisionStartTokenId,
            ["vocab_size"] = t.VocabSize,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A Qwen2VLImageProcessor config for the tower's patch, merge and temporal sizes.</summary>
    public static string PreprocessorJson(Qwen2VlVisionConfig v, int minPixels, int maxPixels) => new JsonObject
    {
        ["do_convert_rgb"] = true,
        ["do_normalize"] = true,
        ["do_rescale"] = true,
        ["do_resize"] = true,
        ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
        ["image_processor_type"] = "Qwen2VLImageProcessor",
        ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
        ["max_pixels"] = maxPixels,
        ["merge_size"] = v.SpatialMergeSize,
        ["min_pixels"] = minPixels,
        ["patch_size"] = v.PatchSize,
        ["resample"] = 3,
        ["rescale_factor"] = 1.0 / 255,
        ["temporal_patch_size"] = v.TemporalPatchSize,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
