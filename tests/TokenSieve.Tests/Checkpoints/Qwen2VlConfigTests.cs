using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

/// <summary>Qwen2-VL's config.json: transformers 4.45's class defaults, both rope_scaling spellings, the
/// published shapes, typed errors; <see cref="ModelFamily.Detect"/>; the newer tensor-name spelling.</summary>
public sealed class Qwen2VlConfigTests
{
    static string Fixture => Qwen2VlTiny.Fixture;

    static Qwen2VlConfig Parse(string json) => Qwen2VlConfig.Parse(JsonDocument.Parse(json).RootElement, "config.json");

    [Fact]
    public void The_fixture_config_resolves_to_every_value_of_its_full_config()
    {
        var c = Qwen2VlConfig.Load(Fixture);
        using var full = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixture, "config.full.json")));
        var f = full.RootElement;
        var v = f.GetProperty("vision_config");
        Assert.Equal(v.GetProperty("depth").GetInt32(), c.Vision.Depth);
        Assert.Equal(v.GetProperty("embed_dim").GetInt32(), c.Vision.EmbedDim);
        Assert.Equal(v.GetProperty("mlp_ratio").GetInt32(), c.Vision.MlpRatio);
        Assert.Equal(v.GetProperty("hidden_act").GetString(), c.Vision.HiddenAct);
        Assert.Equal(v.GetProperty("patch_size").GetInt32(), c.Vision.PatchSize);
        Assert.Equal(v.GetProperty("spatial_merge_size").GetInt32(), c.Vision.SpatialMergeSize);
        Assert.Equal(v.GetProperty("temporal_patch_size").GetInt32(), c.Vision.TemporalPatchSize);
        Assert.Equal(v.GetProperty("in_channels").GetInt32(), c.Vision.InChannels);
        Assert.Equal(f.GetProperty("num_key_value_heads").GetInt32(), c.Text.NumKeyValueHeads);
        Assert.Equal(f.GetProperty("rms_norm_eps").GetSingle(), c.Text.RmsNormEps);
        Assert.Equal(f.GetProperty("rope_theta").GetSingle(), c.Text.RopeTheta);
        Assert.Equal(f.GetProperty("tie_word_embeddings").GetBoolean(), c.Text.TieWordEmbeddings);
        Assert.Equal([2, 3, 3], c.Text.MropeSection!);
        Assert.True(c.Text.AttentionBias);
        Assert.Equal((312, 313, 309, 310, 302), (c.ImageTokenId, c.VideoTokenId, c.VisionStartTokenId, c.VisionEndTokenId, c.Text.EosTokenId));
        Assert.Contains("vision_config.mlp_ratio", c.Defaulted);
    }

    [Fact]
    public void Missing_keys_take_the_4_45_class_defaults()
    {
        var c = Parse("""{"model_type": "qwen2_vl", "hidden_size": 3584, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "num_attention_heads": 28, "num_key_value_heads": 4}""");
        Assert.Equal((32, 1280, 3584, "quick_gelu", 4, 16, 14, 2, 2), (c.Vision.Depth, c.Vision.EmbedDim, c.Vision.HiddenSize, c.Vision.HiddenAct, c.Vision.MlpRatio,
            c.Vision.NumHeads, c.Vision.PatchSize, c.Vision.SpatialMergeSize, c.Vision.TemporalPatchSize));
        Assert.Equal((152064, 29568, 80, 32768), (c.Text.VocabSize, c.Text.IntermediateSize, c.Text.NumHiddenLayers, c.Text.MaxPositionEmbeddings));
        Assert.Equal(1e-5f, c.Text.RmsNormEps);  // Qwen2VLConfig's default, not LLaMA's 1e-6
        Assert.Equal(1000000f, c.Text.RopeTheta);
        Assert.False(c.Text.TieWordEmbeddings);
        Assert.Equal((151655, 151652, 151653), (c.ImageTokenId, c.VisionStartTokenId, c.VisionEndTokenId));
    }

    [Theory]
    [InlineData("qwen2-vl-2b")]
    [InlineData("qwen2-vl-7b")]
    public void The_published_shapes_write_configs_that_read_back(string name)
    {
        var shape = Qwen2VlSynthetic.Find(name)!;
        var back = Parse(Qwen2VlSynthetic.ConfigJson(shape.Config, DType.F16));
        Assert.Equal(shape.Config.Vision, back.Vision);
        Assert.Equal(shape.Config.Text with { MropeSection = null }, back.Text with { MropeSection = null });
        Assert.Equal([16, 24, 24], back.Text.MropeSection!);
        Assert.Empty(back.Defaulted);
    }

    [Fact]
    public void The_published_config_keys_are_accepted()
    {
        // Qwen2-VL-2B-Instruct's config.json (its vision_config carries in_chans and spatial_patch_size, which transformers ignores).
        var c = Parse("""
            {"architectures": ["Qwen2VLForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
             "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654, "image_token_id": 151655, "video_token_id": 151656,
             "hidden_act": "silu", "hidden_size": 1536, "initializer_range": 0.02, "intermediate_size": 8960, "max_position_embeddings": 32768,
             "max_window_layers": 28, "model_type": "qwen2_vl", "num_attention_heads": 12, "num_hidden_layers": 28, "num_key_value_heads": 2,
             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
             "transformers_version": "4.41.2", "use_cache": true, "use_sliding_window": false,
             "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3, "hidden_size": 1536, "patch_size": 14,
                               "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2},
             "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936}
            """);
        Assert.Equal(Qwen2VlSynthetic.Find("qwen2-vl-2b")!.Config.Text with { MropeSection = null }, c.Text with { MropeSection = null });
    }

    [Theory]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "vision_config": {"hidden_size": 64}}""", "rope_scaling", "missing")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64}, "rope_scaling": {"type": "yarn", "mrope_section": [2, 3, 3]}}""", "rope_scaling.type", "not supported")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64}, "rope_scaling": {"mrope_section": [2, 3, 2]}, "num_key_value_heads": 2}""", "rope_scaling.mrope_section", "sums to 7")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64}, "rope_scaling": {"mrope_section": [4, 4]}}""", "rope_scaling.mrope_section", "expected 3")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 32}, "rope_scaling": {"mrope_section": [2, 3, 3]}}""", "vision_config.hidden_size", "differs")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64}, "rope_scaling": {"mrope_section": [2, 3, 3]}, "use_sliding_window": true}""", "use_sliding_window", "not supported")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64}, "rope_scaling": {"mrope_section": [2, 3, 3]}, "attn_logit_softcap": 30}""", "attn_logit_softcap", "unknown config key")]
    [InlineData("""{"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4, "vision_config": {"hidden_size": 64, "embed_dim": 40, "num_heads": 4}, "rope_scaling": {"mrope_section": [2, 3, 3]}}""", "vision_config.num_heads", "multiple of 4")]
    public void Unusable_configs_name_the_key(string json, string key, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(json));
        Assert.Equal(key, e.Key);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Model_family_is_read_from_model_type()
    {
        Assert.Equal(ModelKind.Qwen2Vl, ModelFamily.Detect(Fixture));
        Assert.Equal(ModelKind.Llava, ModelFamily.Detect(TestData.LlavaTiny));
        using var dir = TestData.TempDir();
        File.WriteAllText(dir.File("config.json"), "{}");
        Assert.Equal(ModelKind.Llava, ModelFamily.Detect(dir.Path));
        File.WriteAllText(dir.File("config.json"), """{"model_type": "llava_next"}""");
        Assert.Equal(ModelKind.LlavaNext, ModelFamily.Detect(dir.Path));
        File.WriteAllText(dir.File("config.json"), """{"model_type": 3}""");
        Assert.Equal("model_type", Assert.Throws<ConfigException>(() => ModelFamily.Detect(dir.Path)).Key);
        Assert.Throws<CheckpointException>(() => ModelFamily.Detect(dir.File("missing")));
        Assert.Equal("qwen2_vl", ModelFamily.ModelType(ModelKind.Qwen2Vl));
    }

    /// <summary>transformers ≥ 4.52 re-saves Qwen2-VL as model.visual.* / model.language_model.*; both spellings
    /// load to the same model (same logits).</summary>
    [Fact]
    public void The_newer_tensor_spelling_loads_to_the_same_model()
    {
        using var dir = TestData.TempDir();
        foreach (var f in new[] { "config.json", "preprocessor_config.json" }) File.Copy(Path.Combine(Fixture, f), dir.File(f));
        using (var source = SafetensorsFile.Open(Path.Combine(Fixture, "model.safetensors")))
        {
            var writer = new SafetensorsWriter();
            foreach (var name in source.Names)
            {
                string renamed = name.StartsWith("visual.") ? "model." + name : "model.language_model." + name["model.".Length..];
                writer.Add(renamed, source.Get(name).ToFloats(), source.Get(name).Shape);
            }
            writer.Write(dir.File("model.safetensors"));
        }
        var ids = new[] { 301, 17, 309, 312, 312, 312, 312, 312, 312, 312, 312, 310, 42 };
        var image = TokenSieve.Imaging.ImageDecoder.Load(Path.Combine(Fixture, "image.png"));
        float[] Logits(string folder)
        {
            using var m = Qwen2VlModel.Load(folder);
            var p = new TokenSieve.Pipeline.Qwen2VlPipeline(m, ComputeContext.SingleThread);
            return TokenSieve.Pipeline.Qwen2VlParityDump.Run(p, [p.Prepare(image)], ids, 0)["llm.logits"].Values;
        }
        Assert.Equal(Logits(Fixture), Logits(dir.Path));
    }
}
