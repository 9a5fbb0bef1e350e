using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Checkpoints;

/// <summary>The malformed inputs of issue 18: every one is a typed exception naming the file and the
/// tensor or key, never an exception of the JSON library or of arithmetic.</summary>
public sealed class MalformedCheckpointTests
{
    static void WriteRaw(string path, byte[] header, int dataBytes)
    {
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((ulong)header.Length));
        fs.Write(header);
        fs.Write(new byte[dataBytes]);
    }

    static CheckpointException Fails(string headerJson, int dataBytes = 64) => Fails(Encoding.UTF8.GetBytes(headerJson), dataBytes);

    static CheckpointException Fails(byte[] header, int dataBytes = 64)
    {
        using var dir = TestData.TempDir();
        string path = dir.File("t.safetensors");
        WriteRaw(path, header, dataBytes);
        var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.File);
        Assert.StartsWith(path + ": ", e.Message);
        return e;
    }

    static SafetensorsFile Opens(string headerJson, int dataBytes, TempDir dir)
    {
        string path = dir.File("t.safetensors");
        WriteRaw(path, Encoding.UTF8.GetBytes(headerJson), dataBytes);
        return SafetensorsFile.Open(path);
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[65536,65536,65536,65536],"data_offsets":[0,0]}}""", "64 bits")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4294967296],"data_offsets":[0,0]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":["4"],"data_offsets":[0,16]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":[null],"data_offsets":[0,16]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":[[4]],"data_offsets":[0,16]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":4,"data_offsets":[0,16]}}""", "shape is not an array")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":["0",16]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,null]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1.6e1]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16,32]}}""", "data_offsets")]
    [InlineData("""{"w":{"dtype":7,"shape":[4],"data_offsets":[0,16]}}""", "dtype is not a string")]
    [InlineData("""{"w":{"dtype":"\ud800","shape":[4],"data_offsets":[0,16]}}""", "dtype is not valid")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}""", "dimensions")]
    // 2^62 x 4 bytes wraps to 0 in an unchecked 64-bit product.
    [InlineData("""{"w":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}}""", "shape entry 0")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2147483647,2147483647,2],"data_offsets":[0,0]}}""", "64 bits")]
    public void Malformed_entries_name_the_tensor(string header, string reason)
    {
        var e = Fails(header);
        Assert.Equal("w", e.Tensor);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Lone_surrogate_or_invalid_utf8_in_a_name_or_metadata_is_typed()
    {
        Assert.Contains("not valid UTF-8", Fails("""{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""").Message);
        byte[] badName = [.. "{\""u8, 0xC3, 0x28, .. "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"u8];
        // The JSON parser itself may refuse the bytes; either way it is a CheckpointException.
        Fails(badName);
        Assert.Contains("__metadata__", Fails("""{"__metadata__":{"format":"\udc00"}}""").Message);
        Assert.Contains("__metadata__", Fails("""{"__metadata__":{"\udc00":"pt"}}""").Message);
        Assert.Contains("not a string", Fails("""{"__metadata__":{"format":1}}""").Message);
        Assert.Contains("not an object", Fails("""{"__metadata__":"pt"}""").Message);
    }

    [Fact]
    public void Names_from_files_cannot_break_the_one_line_error_message()
    {
        var e = Fails("{\"a\\nb\\u0007\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        Assert.Equal("a\nb\u0007", e.Tensor);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("a\\u000ab\\u0007", e.Message);
        var long_ = Fails("{\"" + new string('x', 5000) + "\":{\"dtype\":\"X\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        Assert.True(long_.Message.Length < 1000);
    }

    [Fact]
    public void Duplicate_tensor_names_are_rejected_not_last_wins()
    {
        var e = Fails("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""");
        Assert.Equal("w", e.Tensor);
        Assert.Contains("twice", e.Message);
    }

    [Fact]
    public void Zero_byte_tensors_are_not_overlapping_and_read_as_empty()
    {
        using var dir = TestData.TempDir();
        using var f = Opens("""{"a":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"b":{"dtype":"F16","shape":[3,0],"data_offsets":[0,0]},"c":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"d":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}""", 8, dir);
        Assert.Empty(f.Get("a").ToFloats());
        Assert.Equal(0, f.Get("b").ElementCount);
        Assert.Equal(2, f.Get("c").ToFloats().Length);
        // A leading (or any) zero dimension cannot be viewed as a weight matrix: typed, no division by zero.
        var e = Assert.Throws<CheckpointException>(() => f.Get("a").AsMatrix());
        Assert.Equal("a", e.Tensor);
        Assert.Contains("zero dimension", e.Message);
        Assert.Throws<CheckpointException>(() => f.Get("b").AsMatrix());
    }

    [Fact]
    public void A_zero_dimension_with_a_huge_other_dimension_is_an_empty_tensor()
    {
        using var dir = TestData.TempDir();
        using var f = Opens("""{"a":{"dtype":"F32","shape":[2147483647,2147483647,2147483647,0],"data_offsets":[0,0]}}""", 0, dir);
        Assert.Equal(0, f.Get("a").ElementCount);
    }

    [Fact]
    public void Overlap_is_still_detected_between_non_empty_tensors()
    {
        var e = Fails("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""");
        Assert.Contains("overlap", e.Message);
    }

    static string WriteIndex(TempDir dir, string indexJson)
    {
        new SafetensorsWriter().Add("a", [1f], [1]).Write(dir.File("s1.safetensors"));
        File.WriteAllText(dir.File(CheckpointReader.IndexFile), indexJson);
        return dir.Path;
    }

    [Theory]
    [InlineData("""{"weight_map":{"a":7}}""", "not a file name")]
    [InlineData("""{"weight_map":{"a":"\ud800"}}""", "not a file name")]
    [InlineData("""{"weight_map":{"a":"../s1.safetensors"}}""", "not a plain file name")]
    [InlineData("""{"weight_map":{"a":"/etc/passwd"}}""", "not a plain file name")]
    [InlineData("""{"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}}""", "twice")]
    [InlineData("""{"weight_map":{"\ud800":"s1.safetensors"}}""", "not valid UTF-8")]
    [InlineData("""{"weight_map":[]}""", "weight_map")]
    [InlineData("""[1]""", "not a JSON object")]
    [InlineData("""{"weight_map":{"b":"s1.safetensors"}}""", "does not hold it")]
    public void Malformed_shard_indexes_are_typed(string index, string reason)
    {
        using var dir = TestData.TempDir();
        var e = Assert.Throws<CheckpointException>(() => CheckpointReader.Open(WriteIndex(dir, index)).Dispose());
        Assert.Contains(reason, e.Message);
    }

    static LlavaConfig ParseConfig(Action<JsonObject> change)
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.LlavaTiny, "config.json")))!.AsObject();
        change(node);
        using var doc = JsonDocument.Parse(node.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return LlavaConfig.Parse(doc.RootElement, "config.json");
    }

    static ConfigException ConfigFails(string json)
    {
        using var dir = TestData.TempDir();
        File.WriteAllText(dir.File("config.json"), json);
        var e = Assert.Throws<ConfigException>(() => LlavaConfig.Load(dir.File("config.json")));
        Assert.Equal(dir.File("config.json"), e.File);
        return e;
    }

    static string Tiny(string section, string key, string rawValue)
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(TestData.LlavaTiny, "config.json")))!.AsObject();
        var target = section.Length == 0 ? node : node[section]!.AsObject();
        target[key] = 0;  // placeholder replaced textually so that the raw literal survives as written
        string json = node.ToJsonString();
        return json.Replace($"\"{key}\":0", $"\"{key}\":{rawValue}");
    }

    [Theory]
    [InlineData("", "pad_token_id", "1e20")]
    [InlineData("text_config", "head_dim", "16.0")]
    [InlineData("text_config", "num_hidden_layers", "1e9")]
    [InlineData("text_config", "num_hidden_layers", "1000000000")]
    [InlineData("vision_config", "num_hidden_layers", "2.5")]
    [InlineData("text_config", "hidden_size", "-64")]
    [InlineData("text_config", "vocab_size", "\"256\"")]
    [InlineData("text_config", "rms_norm_eps", "1e400")]
    [InlineData("text_config", "rope_theta", "-1")]
    [InlineData("vision_config", "image_size", "100000")]
    [InlineData("", "image_token_index", "9999999999")]
    [InlineData("", "vision_feature_layer", "-2.0")]
    [InlineData("text_config", "model_type", "\"\\ud800\"")]
    public void Config_numbers_are_integers_in_range_named_by_key(string section, string key, string raw)
    {
        var e = ConfigFails(Tiny(section, key, raw));
        Assert.Equal(section.Length == 0 ? key : section + "." + key, e.Key);
    }

    [Fact]
    public void A_billion_layers_fails_in_milliseconds_before_loading_weights()
    {
        using var dir = TestData.TempDir();
        foreach (var f in new[] { "model.safetensors", "preprocessor_config.json" }) File.Copy(Path.Combine(TestData.LlavaTiny, f), dir.File(f));
        File.WriteAllText(dir.File("config.json"), Tiny("text_config", "num_hidden_layers", "1000000000"));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<ConfigException>(() => LlavaModel.Load(dir.Path).Dispose());
        Assert.Equal("text_config.num_hidden_layers", e.Key);
        Assert.True(sw.ElapsedMilliseconds < 2000, $"took {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void Structural_config_errors_are_typed()
    {
        Assert.Equal("vision_config", ConfigFails("""{"vision_config": 3}""").Key);
        Assert.Equal("text_config.hidden_size", ConfigFails("""{"text_config": {"hidden_size": 64, "hidden_size": 128}}""").Key);
        Assert.Equal("vision_config.patch_size", ConfigFails(Tiny("vision_config", "patch_size", "112")).Key);
        Assert.Contains("not valid JSON", ConfigFails("{\"a\": \u0001}").Message);
        // The valid fixture still parses, with an integer pad id.
        Assert.Equal(255, ParseConfig(_ => { }).PadTokenId);
    }
}
