using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Numerics;

namespace TokenSieve.Lab.Training;

/// <summary>Writes and reads the lab model as a llava-hf folder: config.json (llava-hf keys,
/// LlavaConfig-compatible), model.safetensors (exact llava-hf names, F32 or F16), 
/// preprocessor_config.json (CLIPImageProcessor at the model's size), generation_config.json,
/// added_tokens.json (&lt;image&gt;, &lt;pad&gt;) and tokenizer.model (written by the caller's
/// SentencePiece writer from <see cref="LabVocabulary.Pieces"/>).</summary>
public static class LabCheckpoint
{
    public const string ConfigFile = "config.json", WeightsFile = "model.safetensors", PreprocessorFile = "preprocessor_config.json",
        GenerationFile = "generation_config.json", AddedTokensFile = "added_tokens.json", TokenizerFile = "tokenizer.model";

    /// <param name="tokenizerModel">Serialises the vocabulary to SentencePiece's tokenizer.model bytes
    /// (TokenSieve's SentencePiece writer); when null, tokenizer.model is not written.</param>
    public static void Save(LabModel model, string directory, DType dtype = DType.F32, Func<IReadOnlyList<LabPiece>, byte[]>? tokenizerModel = null)
    {
        Directory.CreateDirectory(directory);
        var c = model.Config;
        var writer = new SafetensorsWriter();
        writer.AddMetadata("format", "pt");
        foreach (var p in model.Parameters.List)
        {
            if (!p.Exported) continue;
            writer.Add(p.Name, model.Parameters.Data.AsSpan(p.Offset, p.Length).ToArray(), p.Shape, dtype);
        }
        writer.Write(Path.Combine(directory, WeightsFile));
        File.WriteAllText(Path.Combine(directory, ConfigFile), ConfigJson(c, dtype));
        File.WriteAllText(Path.Combine(directory, PreprocessorFile), PreprocessorJson(c));
        File.WriteAllText(Path.Combine(directory, GenerationFile), Indented(new JsonObject
        {
            ["bos_token_id"] = c.BosTokenId, ["eos_token_id"] = c.EosTokenId, ["pad_token_id"] = c.PadTokenId,
        }));
        File.WriteAllText(Path.Combine(directory, AddedTokensFile), Indented(new JsonObject
        {
            ["<image>"] = c.ImageTokenIndex, ["<pad>"] = c.PadTokenId,
        }));
        if (tokenizerModel is not null) File.WriteAllBytes(Path.Combine(directory, TokenizerFile), tokenizerModel(LabVocabulary.Pieces));
    }

    static string Indented(JsonNode n) => n.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>config.json as transformers' save_pretrained writes it for LlavaConfig, every key spelled out.</summary>
    public static string ConfigJson(LabModelConfig c, DType dtype = DType.F32)
    {
        string torchDtype = dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" };
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["ignore_index"] = -100,
            ["image_token_index"] = c.ImageTokenIndex,
            ["model_type"] = "llava",
            ["pad_token_id"] = c.PadTokenId,
            ["projector_hidden_act"] = "gelu",
            ["text_config"] = new JsonObject
            {
                ["architectures"] = new JsonArray("LlamaForCausalLM"),
                ["bos_token_id"] = c.BosTokenId,
                ["eos_token_id"] = c.EosTokenId,
                ["hidden_act"] = "silu",
                ["hidden_size"] = c.TextHidden,
                ["intermediate_size"] = c.TextIntermediate,
                ["max_position_embeddings"] = c.MaxPositions,
                ["model_type"] = "llama",
                ["num_attention_heads"] = c.TextHeads,
                ["num_hidden_layers"] = c.TextLayers,
                ["num_key_value_heads"] = c.TextHeads,
                ["rms_norm_eps"] = c.RmsNormEps,
                ["rope_theta"] = c.RopeTheta,
                ["tie_word_embeddings"] = false,
                ["torch_dtype"] = torchDtype,
                ["vocab_size"] = c.VocabSize,
            },
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = torchDtype,
            ["vision_config"] = new JsonObject
            {
                ["hidden_act"] = "quick_gelu",
                ["hidden_size"] = c.VisionHidden,
                ["image_size"] = c.ImageSize,
                ["intermediate_size"] = c.VisionIntermediate,
                ["layer_norm_eps"] = c.VisionLayerNormEps,
                ["model_type"] = "clip_vision_model",
                ["num_attention_heads"] = c.VisionHeads,
                ["num_channels"] = LabModelConfig.Channels,
                ["num_hidden_layers"] = c.VisionLayers,
                ["patch_size"] = c.PatchSize,
                ["projection_dim"] = c.VisionHidden,
            },
            ["vision_feature_layer"] = c.VisionFeatureLayer,
            ["vision_feature_select_strategy"] = "default",
            ["vocab_size"] = c.VocabSize,
        };
        return Indented(root);
    }

    /// <summary>CLIPImageProcessor settings at the model's size: lab scenes are drawn at exactly
    /// that size, so resize and crop are no-ops and preprocessing is rescale + normalise.</summary>
    public static string PreprocessorJson(LabModelConfig c) => Indented(new JsonObject
    {
        ["crop_size"] = new JsonObject { ["height"] = c.ImageSize, ["width"] = c.ImageSize },
        ["do_center_crop"] = true,
        ["do_convert_rgb"] = true,
        ["do_normalize"] = true,
        ["do_rescale"] = true,
        ["do_resize"] = true,
        ["image_mean"] = new JsonArray(LabImage.ClipMean.Select(x => (JsonNode)JsonValue.Create((double)(decimal)x)!).ToArray()),
        ["image_processor_type"] = "CLIPImageProcessor",
        ["image_std"] = new JsonArray(LabImage.ClipStd.Select(x => (JsonNode)JsonValue.Create((double)(decimal)x)!).ToArray()),
        ["processor_class"] = "LlavaProcessor",
        ["resample"] = 3,
        ["rescale_factor"] = LabImage.RescaleFactor,
        ["size"] = new JsonObject { ["shortest_edge"] = c.ImageSize },
    });

    /// <summary>Loads the exported tensors of a llava-hf folder (any supported dtype) into a lab
    /// model built from its config.json. Missing or mis-shaped tensors are errors; tensors the lab
    /// model does not have are ignored only if they are known buffers.</summary>
    public static LabModel Load(string directory)
    {
        var config = LlavaConfig.Load(directory);
        var model = new LabModel(LabModelConfig.FromLlava(config));
        using var reader = CheckpointReader.Open(directory);
        foreach (var p in model.Parameters.List)
        {
            if (!p.Exported) continue;
            if (!reader.Contains(p.Name)) throw new CheckpointException(directory, p.Name, "missing from the checkpoint");
            var t = reader.Get(p.Name).ExpectShape(p.Shape);
            t.ToFloats().AsSpan().CopyTo(model.Parameters.Data.AsSpan(p.Offset, p.Length));
        }
        foreach (var name in reader.Names)
            if (!model.Parameters.Contains(TensorNames.Canonical(name)) && !TensorNames.IsIgnoredBuffer(name))
                throw new CheckpointException(directory, name, "unexpected tensor (not part of a LLaVA with this config)");
        model.RefreshTransposed();
        return model;
    }
}
