using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

public sealed class LlavaConfigTests
{
    static LlavaConfig ParseText(string json, bool allowUnknown = false)
    {
        using var doc = JsonDocument.Parse(json);
        return LlavaConfig.Parse(doc.RootElement, "config.json", allowUnknown);
    }

    [Fact]
    public void Defaults_fill_the_short_llava_hf_config_exactly_like_config_full_json()
    {
        var short_ = LlavaConfig.Load(Path.Combine(TestData.LlavaTiny, "config.json"));
        var full = LlavaConfig.Load(Path.Combine(TestData.LlavaTiny, "config.full.json"));
        Assert.Equal(full.Vision, short_.Vision);
        Assert.Equal(full.Text, short_.Text);
        Assert.Equal("quick_gelu", short_.Vision.HiddenAct);
        Assert.Contains("vision_config.hidden_act", short_.Defaulted);
        Assert.DoesNotContain("vision_config.hidden_act", full.Defaulted);
        Assert.Equal(3, short_.FeatureHiddenStateIndex);
    }

    [Fact]
    public void The_published_llava_1_5_7b_config_resolves_to_the_7b_shapes()
    {
        // REFERENCE.md §1.1, verbatim.
        var c = ParseText("""
        {"architectures":["LlavaForConditionalGeneration"],"ignore_index":-100,"image_token_index":32000,"model_type":"llava",
         "pad_token_id":32001,"projector_hidden_act":"gelu",
         "text_config":{"_name_or_path":"lmsys/vicuna-7b-v1.5","architectures":["LlamaForCausalLM"],"max_position_embeddings":4096,
           "model_type":"llama","rms_norm_eps":1e-05,"torch_dtype":"float16","vocab_size":32064},
         "tie_word_embeddings":false,"torch_dtype":"float16",
         "vision_config":{"hidden_size":1024,"image_size":336,"intermediate_size":4096,"model_type":"clip_vision_model",
           "num_attention_heads":16,"num_hidden_layers":24,"patch_size":14,"projection_dim":768,"vocab_size":32000},
         "vision_feature_layer":-2,"vision_feature_select_strategy":"default","vocab_size":32064}
        """);
        Assert.Equal(new LlamaConfig(32064, 4096, 11008, 32, 32, 32, "silu", 4096, 1e-5f, 10000f, 1, 2, false), c.Text);
        Assert.Equal(new ClipVisionConfig(1024, 4096, 24, 16, 3, 336, 14, "quick_gelu", 1e-5f), c.Vision);
        Assert.Equal(576, c.ImageTokensPerImage);
        Assert.Equal(23, c.FeatureHiddenStateIndex);
        Assert.Equal(32001, c.PadTokenId);
    }

    static string WithChange(Action<JsonObject> change)
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.LlavaTiny, "config.json")))!.AsObject();
        change(node);
        return node.ToJsonString();
    }

    [Fact]
    public void Unknown_keys_are_an_error_naming_the_key_unless_allowed()
    {
        var json = WithChange(o => o["text_config"]!.AsObject()["attn_logit_softcapping"] = 50.0);
        var e = Assert.Throws<ConfigException>(() => ParseText(json));
        Assert.Equal("text_config.attn_logit_softcapping", e.Key);
        var c = ParseText(json, allowUnknown: true);
        Assert.Contains("text_config.attn_logit_softcapping", c.IgnoredKeys);
    }

    [Theory]
    [InlineData("vision_config", "hidden_act", "relu")]
    [InlineData("text_config", "hidden_act", "gelu")]
    [InlineData(null, "projector_hidden_act", "relu")]
    [InlineData(null, "model_type", "llava_onevision")]
    [InlineData("text_config", "model_type", "gemma")]
    [InlineData(null, "vision_feature_select_strategy", "cls")]
    public void Unsupported_values_are_named(string? section, string key, string value)
    {
        var json = WithChange(o => (section is null ? o : o[section]!.AsObject())[key] = value);
        var e = Assert.Throws<ConfigException>(() => ParseText(json));
        Assert.EndsWith(key, e.Key);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void Inconsistent_sizes_are_rejected()
    {
        Assert.Throws<ConfigException>(() => ParseText(WithChange(o => o["text_config"]!.AsObject()["num_key_value_heads"] = 3)));
        Assert.Throws<ConfigException>(() => ParseText(WithChange(o => o["vision_config"]!.AsObject()["patch_size"] = 15)));
        Assert.Throws<ConfigException>(() => ParseText(WithChange(o => o["text_config"]!.AsObject()["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 })));
        Assert.Throws<ConfigException>(() => ParseText(WithChange(o => o["vision_feature_layer"] = 9)));
        Assert.Throws<ConfigException>(() => ParseText(WithChange(o => o["text_config"]!.AsObject()["hidden_size"] = "big")));
    }

    [Fact]
    public void Not_json_or_missing()
    {
        using var dir = TestData.TempDir();
        File.WriteAllText(dir.File("config.json"), "{ not json");
        Assert.Contains("not valid JSON", Assert.Throws<ConfigException>(() => LlavaConfig.Load(dir.File("config.json"))).Message);
        Assert.Contains("not found", Assert.Throws<ConfigException>(() => LlavaConfig.Load(dir.File("nope.json"))).Message);
    }
}
