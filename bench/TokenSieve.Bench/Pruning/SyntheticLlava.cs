using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Models;

namespace TokenSieve.Bench.Pruning;

/// <summary>Writes a random-weight llava-hf folder (a 2-layer toy vision tower and a LLaMA of the
/// given shape) for decoder benchmarks, where only the decoder's cost matters. Query/key weights are
/// drawn large enough that attention is peaked, as in a trained model.</summary>
public static class SyntheticLlava
{
    public sealed record Shape(int Layers, int Hidden, int Heads, int KvHeads, int Intermediate, int Vocab = 256, int MaxPositions = 8192);

    public const int ImageTokenIndex = 250;

    public static void Write(string folder, Shape s, int seed)
    {
        Directory.CreateDirectory(folder);
        const int vc = 32, vInter = 64, vLayers = 2, image = 28, patch = 14;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["model_type"] = "llava",
            ["image_token_index"] = ImageTokenIndex,
            ["projector_hidden_act"] = "gelu",
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["tie_word_embeddings"] = false,
            ["text_config"] = new JsonObject
            {
                ["model_type"] = "llama", ["hidden_size"] = s.Hidden, ["intermediate_size"] = s.Intermediate, ["num_hidden_layers"] = s.Layers,
                ["num_attention_heads"] = s.Heads, ["num_key_value_heads"] = s.KvHeads, ["vocab_size"] = s.Vocab,
                ["max_position_embeddings"] = s.MaxPositions, ["rms_norm_eps"] = 1e-5,
            },
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = "clip_vision_model", ["hidden_size"] = vc, ["intermediate_size"] = vInter, ["num_hidden_layers"] = vLayers,
                ["num_attention_heads"] = 2, ["image_size"] = image, ["patch_size"] = patch, ["projection_dim"] = vc,
            },
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());

        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        void Add(string name, double std, params int[] shape) => w.Add(name, Normal(rng, shape.Aggregate(1, (a, b) => a * b), std, 0), shape);
        void Ones(string name, int n) => w.Add(name, Normal(rng, n, 0.1, 1.0), [n]);

        int seq = (image / patch) * (image / patch) + 1;
        Add(TensorNames.PatchEmbedding, 0.1, vc, 3, patch, patch);
        Add(TensorNames.ClassEmbedding, 1, vc);
        Add(TensorNames.PositionEmbedding, 0.1, seq, vc);
        foreach (var ln in new[] { TensorNames.PreLayerNorm, TensorNames.PostLayerNorm })
        {
            Ones(ln + "weight", vc);
            Add(ln + "bias", 0.01, vc);
        }
        for (int i = 0; i < vLayers; i++)
        {
            string p = TensorNames.VisionLayer(i);
            foreach (var m in new[] { "self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj.", "self_attn.out_proj." })
            {
                Add(p + m + "weight", 1 / Math.Sqrt(vc), vc, vc);
                Add(p + m + "bias", 0.01, vc);
            }
            foreach (var m in new[] { "layer_norm1.", "layer_norm2." })
            {
                Ones(p + m + "weight", vc);
                Add(p + m + "bias", 0.01, vc);
            }
            Add(p + "mlp.fc1.weight", 1 / Math.Sqrt(vc), vInter, vc);
            Add(p + "mlp.fc1.bias", 0.01, vInter);
            Add(p + "mlp.fc2.weight", 1 / Math.Sqrt(vInter), vc, vInter);
            Add(p + "mlp.fc2.bias", 0.01, vc);
        }
        Add(TensorNames.ProjectorLinear1 + "weight", 1 / Math.Sqrt(vc), s.Hidden, vc);
        Add(TensorNames.ProjectorLinear1 + "bias", 0.01, s.Hidden);
        Add(TensorNames.ProjectorLinear2 + "weight", 1 / Math.Sqrt(s.Hidden), s.Hidden, s.Hidden);
        Add(TensorNames.ProjectorLinear2 + "bias", 0.01, s.Hidden);

        int d = s.Hidden, kv = s.KvHeads * (s.Hidden / s.Heads), m2 = s.Intermediate;
        Add(TensorNames.EmbedTokens, 1, s.Vocab, d);
        Ones(TensorNames.FinalNorm, d);
        Add(TensorNames.LmHead, 1 / Math.Sqrt(d), s.Vocab, d);
        for (int l = 0; l < s.Layers; l++)
        {
            string p = TensorNames.LlmLayer(l);
            Add(p + "self_attn.q_proj.weight", 1.5 / Math.Sqrt(d), d, d);
            Add(p + "self_attn.k_proj.weight", 1.5 / Math.Sqrt(d), kv, d);
            Add(p + "self_attn.v_proj.weight", 1 / Math.Sqrt(d), kv, d);
            Add(p + "self_attn.o_proj.weight", 1 / Math.Sqrt(d), d, d);
            Add(p + "mlp.gate_proj.weight", 1 / Math.Sqrt(d), m2, d);
            Add(p + "mlp.up_proj.weight", 1 / Math.Sqrt(d), m2, d);
            Add(p + "mlp.down_proj.weight", 1 / Math.Sqrt(m2), d, m2);
            Ones(p + "input_layernorm.weight", d);
            Ones(p + "post_attention_layernorm.weight", d);
        }
        w.Write(Path.Combine(folder, "model.safetensors"));
    }

    /// <summary>A LLaVA-style prompt: <paramref name="before"/> text ids, the image slot, <paramref name="after"/> text ids,
    /// and random visual tokens [visual, Hidden].</summary>
    public static SplicedSequence Prompt(InferenceSession session, int before, int visual, int after, int seed)
    {
        var rng = new Random(seed);
        var cfg = session.Model.Config;
        var ids = new int[before + 1 + after];
        for (int i = 0; i < ids.Length; i++)
        {
            int t;
            do t = rng.Next(3, cfg.Text.VocabSize); while (t == cfg.ImageTokenIndex);
            ids[i] = t;
        }
        ids[0] = 1;
        ids[before] = cfg.ImageTokenIndex;
        return session.Splice(ids, before, Normal(rng, visual * cfg.Text.HiddenSize, 1, 0), visual);
    }

    static float[] Normal(Random rng, int count, double std, double mean)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(mean + std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }
}
