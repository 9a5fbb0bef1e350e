using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenSieve.Numerics;

namespace TokenSieve.Checkpoints;

/// <summary>Writes random-weight checkpoints of real shapes in the llava-hf layout, for speed and
/// memory benchmarks (no real weights can be downloaded here). Values are uniform in
/// ±1/√fan_in so activations stay finite; answers are meaningless.</summary>
public static class SyntheticCheckpoint
{
    public sealed record Shape(string Name, ClipVisionConfig Vision, LlamaConfig Text, string Description);

    static readonly ClipVisionConfig ClipL336 = new(1024, 4096, 24, 16, 3, 336, 14, "quick_gelu", 1e-5f);

    public static readonly IReadOnlyList<Shape> Shapes =
    [
        new("llava-1.5-7b", ClipL336, new LlamaConfig(32064, 4096, 11008, 32, 32, 32, "silu", 4096, 1e-5f, 10000f, 1, 2, false),
            "CLIP ViT-L/14-336 + Vicuna-7B (LLaMA-7B body), as llava-hf/llava-1.5-7b-hf"),
        new("tiny-1b", ClipL336, new LlamaConfig(32064, 2048, 5632, 22, 32, 4, "silu", 2048, 1e-5f, 10000f, 1, 2, false),
            "CLIP ViT-L/14-336 + a TinyLlama-1.1B-shaped decoder (GQA, 4 kv heads)"),
        new("small", new ClipVisionConfig(256, 1024, 6, 4, 3, 224, 14, "quick_gelu", 1e-5f),
            new LlamaConfig(32064, 512, 1408, 6, 8, 2, "silu", 2048, 1e-5f, 10000f, 1, 2, false),
            "a small model of the same architecture (256 visual tokens) for quick end-to-end checks"),
    ];

    public static Shape Find(string name) =>
        Shapes.FirstOrDefault(s => s.Name == name)
        ?? throw new InvalidInputException($"unknown synthetic shape '{name}' (known: {string.Join(", ", Shapes.Select(s => s.Name))})");

    /// <summary>Bytes the weights will take in <paramref name="dtype"/>.</summary>
    public static long WeightBytes(Shape shape, DType dtype) => Tensors(shape).Sum(t => t.Count) * DTypes.SizeOf(dtype);

    static IEnumerable<(string Name, int[] Dims, long Count, int FanIn, bool IsNorm)> Tensors(Shape s)
    {
        var v = s.Vision;
        var t = s.Text;
        (string, int[], long, int, bool) T(string name, int fanIn, bool norm, params int[] dims) => (name, dims, dims.Aggregate(1L, (a, b) => a * b), fanIn, norm);
        int c = v.HiddenSize;
        yield return T(TensorNames.ClassEmbedding, c, false, c);
        yield return T(TensorNames.PatchEmbedding, v.NumChannels * v.PatchSize * v.PatchSize, false, c, v.NumChannels, v.PatchSize, v.PatchSize);
        yield return T(TensorNames.PositionEmbedding, c, false, v.SequenceLength, c);
        foreach (var ln in new[] { TensorNames.PreLayerNorm, TensorNames.PostLayerNorm })
        {
            yield return T(ln + "weight", 0, true, c);
            yield return T(ln + "bias", 0, false, c);
        }
        for (int i = 0; i < v.NumHiddenLayers; i++)
        {
            string p = TensorNames.VisionLayer(i);
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
            {
                yield return T($"{p}self_attn.{proj}.weight", c, false, c, c);
                yield return T($"{p}self_attn.{proj}.bias", c, false, c);
            }
            foreach (var ln in new[] { "layer_norm1.", "layer_norm2." })
            {
                yield return T(p + ln + "weight", 0, true, c);
                yield return T(p + ln + "bias", 0, false, c);
            }
            yield return T(p + "mlp.fc1.weight", c, false, v.IntermediateSize, c);
            yield return T(p + "mlp.fc1.bias", c, false, v.IntermediateSize);
            yield return T(p + "mlp.fc2.weight", v.IntermediateSize, false, c, v.IntermediateSize);
            yield return T(p + "mlp.fc2.bias", v.IntermediateSize, false, c);
        }
        int d = t.HiddenSize, kv = t.KvDim, m = t.IntermediateSize;
        yield return T(TensorNames.ProjectorLinear1 + "weight", c, false, d, c);
        yield return T(TensorNames.ProjectorLinear1 + "bias", c, false, d);
        yield return T(TensorNames.ProjectorLinear2 + "weight", d, false, d, d);
        yield return T(TensorNames.ProjectorLinear2 + "bias", d, false, d);
        yield return T(TensorNames.EmbedTokens, 1, false, t.VocabSize, d);
        for (int i = 0; i < t.NumHiddenLayers; i++)
        {
            string p = TensorNames.LlmLayer(i);
            yield return T(p + "self_attn.q_proj.weight", d, false, d, d);
            yield return T(p + "self_attn.k_proj.weight", d, false, kv, d);
            yield return T(p + "self_attn.v_proj.weight", d, false, kv, d);
            yield return T(p + "self_attn.o_proj.weight", d, false, d, d);
            yield return T(p + "mlp.gate_proj.weight", d, false, m, d);
            yield return T(p + "mlp.up_proj.weight", d, false, m, d);
            yield return T(p + "mlp.down_proj.weight", m, false, d, m);
            yield return T(p + "input_layernorm.weight", 0, true, d);
            yield return T(p + "post_attention_layernorm.weight", 0, true, d);
        }
        yield return T(TensorNames.FinalNorm, 0, true, d);
        yield return T(TensorNames.LmHead, d, false, t.VocabSize, d);
    }

    /// <summary>Writes config.json, preprocessor_config.json and model.safetensors into <paramref name="directory"/>.</summary>
    public static void Write(string directory, Shape shape, DType dtype, ulong seed = 1, IProgress<(long Done, long Total)>? progress = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), ConfigJson(shape, dtype));
        File.WriteAllText(Path.Combine(directory, "preprocessor_config.json"), PreprocessorJson(shape.Vision.ImageSize));
        var writer = new SafetensorsWriter().AddMetadata("format", "pt").AddMetadata("tokensieve.synthetic", shape.Name);
        long total = WeightBytes(shape, dtype), done = 0;
        ulong tensorSeed = seed;
        foreach (var t in Tensors(shape))
        {
            var tensor = t;
            ulong s = tensorSeed++;
            writer.AddStreamed(t.Name, dtype, t.Dims, stream =>
            {
                WriteRandom(stream, tensor.Count, dtype, tensor.IsNorm ? 0f : 1f / MathF.Sqrt(Math.Max(1, tensor.FanIn)), tensor.IsNorm ? 1f : 0f, s);
                done += tensor.Count * DTypes.SizeOf(dtype);
                progress?.Report((done, total));
            });
        }
        writer.Write(Path.Combine(directory, "model.safetensors"));
    }

    static void WriteRandom(Stream stream, long count, DType dtype, float scale, float offset, ulong seed)
    {
        const int chunk = 1 << 16;
        var values = new float[chunk];
        var bytes = new byte[chunk * 4];
        ulong state = seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B14E5DUL;
        for (long done = 0; done < count; done += chunk)
        {
            int n = (int)Math.Min(chunk, count - done);
            for (int i = 0; i < n; i++)
            {
                // SplitMix64 → uniform in [−1, 1).
                state += 0x9E3779B97F4A7C15UL;
                ulong z = state;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                values[i] = offset + scale * ((z >> 40) * (2f / (1 << 24)) - 1f);
            }
            int size = DTypes.SizeOf(dtype);
            var span = bytes.AsSpan(0, n * size);
            switch (dtype)
            {
                case DType.F32: MemoryMarshal.AsBytes(values.AsSpan(0, n)).CopyTo(span); break;
                case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(values.AsSpan(0, n), MemoryMarshal.Cast<byte, Half>(span)); break;
                case DType.BF16:
                    var b = MemoryMarshal.Cast<byte, ushort>(span);
                    for (int i = 0; i < n; i++) b[i] = BFloat16.FromSingle(values[i]);
                    break;
            }
            stream.Write(span);
        }
    }

    /// <summary>llava-hf's 32000 where the vocabulary holds it, else the second-to-last id.</summary>
    public static int ImageTokenIndex(LlamaConfig t) => t.VocabSize > 32001 ? 32000 : t.VocabSize - 2;

    static string ConfigJson(Shape s, DType dtype)
    {
        var v = s.Vision;
        var t = s.Text;
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["model_type"] = "llava",
            ["image_token_index"] = ImageTokenIndex(t),
            ["pad_token_id"] = ImageTokenIndex(t) + 1,
            ["projector_hidden_act"] = "gelu",
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = dtype switch { DType.F16 => "float16", DType.BF16 => "bfloat16", _ => "float32" },
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = "clip_vision_model", ["hidden_size"] = v.HiddenSize, ["intermediate_size"] = v.IntermediateSize,
                ["num_hidden_layers"] = v.NumHiddenLayers, ["num_attention_heads"] = v.NumAttentionHeads, ["image_size"] = v.ImageSize,
                ["patch_size"] = v.PatchSize, ["hidden_act"] = v.HiddenAct, ["layer_norm_eps"] = v.LayerNormEps,
            },
            ["text_config"] = new JsonObject
            {
                ["model_type"] = "llama", ["vocab_size"] = t.VocabSize, ["hidden_size"] = t.HiddenSize, ["intermediate_size"] = t.IntermediateSize,
                ["num_hidden_layers"] = t.NumHiddenLayers, ["num_attention_heads"] = t.NumAttentionHeads, ["num_key_value_heads"] = t.NumKeyValueHeads,
                ["max_position_embeddings"] = t.MaxPositionEmbeddings, ["rms_norm_eps"] = t.RmsNormEps, ["rope_theta"] = t.RopeTheta,
            },
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A CLIPImageProcessor config for square images of the given size.</summary>
    public static string PreprocessorJson(int size) => new JsonObject
    {
        ["image_processor_type"] = "CLIPImageProcessor",
        ["do_resize"] = true, ["size"] = new JsonObject { ["shortest_edge"] = size }, ["resample"] = 3,
        ["do_center_crop"] = true, ["crop_size"] = new JsonObject { ["height"] = size, ["width"] = size },
        ["do_rescale"] = true, ["rescale_factor"] = 1.0 / 255, ["do_normalize"] = true, ["do_convert_rgb"] = true,
        ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
        ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
}
