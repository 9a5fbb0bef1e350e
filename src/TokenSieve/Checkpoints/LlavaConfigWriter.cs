using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>The one config.json writer: a <see cref="LlavaConfig"/> as transformers'
/// save_pretrained writes a LlavaConfig, every key spelled out (so the file reads back to the same
/// config without defaults). Used by the synthetic checkpoints, the lab and the benchmarks.</summary>
internal static class LlavaConfigWriter
{
    /// <summary>A config from its parts, with llava-hf's top-level defaults.</summary>
    public static LlavaConfig Create(ClipVisionConfig vision, LlamaConfig text, int imageTokenIndex, int? padTokenId, int visionFeatureLayer = -2,
        string selectStrategy = "default", bool projectorBias = true) =>
        new(vision, text, imageTokenIndex, padTokenId, "gelu", visionFeatureLayer, selectStrategy, projectorBias, [], [], null);

    public static string ToJson(LlavaConfig c, DType dtype = DType.F32)
    {
        string torchDtype = dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" };
        var t = c.Text;
        var v = c.Vision;
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray(c.Variant switch
            {
                LlavaVariant.LlavaNext => "LlavaNextForConditionalGeneration",
                LlavaVariant.VideoLlava => "VideoLlavaForConditionalGeneration",
                _ => "LlavaForConditionalGeneration",
            }),
            ["ignore_index"] = -100,
            ["image_token_index"] = c.ImageTokenIndex,
            ["model_type"] = LlavaConfig.ModelTypeOf(c.Variant),
            ["pad_token_id"] = c.PadTokenId,
            ["projector_hidden_act"] = c.ProjectorHiddenAct,
            ["text_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("LlamaForCausalLM"),
                ["attention_bias"] = false,
                ["bos_token_id"] = t.BosTokenId,
                ["eos_token_id"] = t.EosTokenId,
                ["hidden_act"] = t.HiddenAct,
                ["hidden_size"] = t.HiddenSize,
                ["intermediate_size"] = t.IntermediateSize,
                ["max_position_embeddings"] = t.MaxPositionEmbeddings,
                ["mlp_bias"] = false,
                ["model_type"] = "llama",
                ["num_attention_heads"] = t.NumAttentionHeads,
                ["num_hidden_layers"] = t.NumHiddenLayers,
                ["num_key_value_heads"] = t.NumKeyValueHeads,
                ["rms_norm_eps"] = t.RmsNormEps,
                ["rope_theta"] = t.RopeTheta,
                ["tie_word_embeddings"] = t.TieWordEmbeddings,
                ["torch_dtype"] = torchDtype,
                ["vocab_size"] = t.VocabSize,
            },
            ["tie_word_embeddings"] = t.TieWordEmbeddings,
            ["torch_dtype"] = torchDtype,
            ["vision_config"] = new JsonObject
            {
                ["hidden_act"] = v.HiddenAct,
                ["hidden_size"] = v.HiddenSize,
                ["image_size"] = v.ImageSize,
                ["intermediate_size"] = v.IntermediateSize,
                ["layer_norm_eps"] = v.LayerNormEps,
                ["model_type"] = "clip_vision_model",
                ["num_attention_heads"] = v.NumAttentionHeads,
                ["num_channels"] = v.NumChannels,
                ["num_hidden_layers"] = v.NumHiddenLayers,
                ["patch_size"] = v.PatchSize,
                ["projection_dim"] = v.HiddenSize,
            },
            ["vision_feature_layer"] = c.VisionFeatureLayer,
            ["vision_feature_select_strategy"] = c.VisionFeatureSelectStrategy,
            ["vocab_size"] = t.VocabSize,
        };
        if (!c.ProjectorBias) root["multimodal_projector_bias"] = false;
        if (c.Variant == LlavaVariant.LlavaNext)
            root["image_grid_pinpoints"] = new JsonArray(c.ImageGridPinpoints.Select(p => (JsonNode)new JsonArray(p.Height, p.Width)).ToArray());
        if (c.VideoTokenIndex is int video) root["video_token_index"] = video;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The preprocessor config of a model: CLIP's for LLaVA-1.5 (<see cref="PreprocessorJson(int)"/>),
    /// LlavaNextImageProcessor with the anyres resolutions, VideoLlavaImageProcessor.</summary>
    public static string PreprocessorJson(LlavaConfig c)
    {
        var o = JsonNode.Parse(PreprocessorJson(c.Vision.ImageSize))!.AsObject();
        switch (c.Variant)
        {
            case LlavaVariant.LlavaNext:
                o["image_processor_type"] = "LlavaNextImageProcessor";
                o["processor_class"] = "LlavaNextProcessor";
                o["image_grid_pinpoints"] = new JsonArray(c.ImageGridPinpoints.Select(p => (JsonNode)new JsonArray(p.Height, p.Width)).ToArray());
                break;
            case LlavaVariant.VideoLlava:
                o["image_processor_type"] = "VideoLlavaImageProcessor";
                o["processor_class"] = "VideoLlavaProcessor";
                break;
        }
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A CLIPImageProcessor config for square images of the given size (resize and crop
    /// are no-ops for images drawn at that size).</summary>
    public static string PreprocessorJson(int size) => new JsonObject
    {
        ["crop_size"] = new JsonObject { ["height"] = size, ["width"] = size },
        ["do_center_crop"] = true,
        ["do_convert_rgb"] = true,
        ["do_normalize"] = true,
        ["do_rescale"] = true,
        ["do_resize"] = true,
        ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
        ["image_processor_type"] = "CLIPImageProcessor",
        ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
        ["processor_class"] = "LlavaProcessor",
        ["resample"] = 3,
        ["rescale_factor"] = 1.0 / 255,
        ["size"] = new JsonObject { ["shortest_edge"] = size },
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
