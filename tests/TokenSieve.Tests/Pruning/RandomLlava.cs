using System.Text.Json.Nodes;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Pruning;

/// <summary>A random-weight LLaVA folder: the llava-tiny fixture's vision tower and projector (text
/// width 64) with a freshly drawn, deeper LLaMA (GQA) behind them, so multi-stage pruners have
/// layers to act on. Query/key weights are drawn large enough that attention is peaked, which keeps
/// rankings far from ties.</summary>
public sealed class RandomLlava : IDisposable
{
    readonly TempDir _dir = TestData.TempDir();
    public string Path => _dir.Path;
    public int Layers { get; }

    public RandomLlava(int layers = 8, int kvHeads = 2, int maxPositions = 512, int seed = 1234)
    {
        Layers = layers;
        var config = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(TestData.LlavaTiny, "config.json")))!;
        var text = config["text_config"]!;
        text["num_hidden_layers"] = layers;
        text["num_key_value_heads"] = kvHeads;
        text["max_position_embeddings"] = maxPositions;
        File.WriteAllText(_dir.File("config.json"), config.ToJsonString());

        var cfg = LlavaConfig.Load(_dir.File("config.json")).Text;
        int d = cfg.HiddenSize, kv = cfg.KvDim, m = cfg.IntermediateSize, v = cfg.VocabSize;
        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        using (var fixture = SafetensorsFile.Open(System.IO.Path.Combine(TestData.LlavaTiny, "model.safetensors")))
            foreach (var name in fixture.Names)
                if (name.StartsWith(TensorNames.Vision, StringComparison.Ordinal) || name.StartsWith("multi_modal_projector.", StringComparison.Ordinal))
                    w.Add(name, fixture.Get(name).ToFloats(), fixture.Get(name).Shape);
        w.Add(TensorNames.EmbedTokens, Normal(rng, v * d, 1.0), [v, d]);
        w.Add(TensorNames.FinalNorm, Around(rng, d, 1.0, 0.1), [d]);
        w.Add(TensorNames.LmHead, Normal(rng, v * d, 1.0 / Math.Sqrt(d)), [v, d]);
        for (int l = 0; l < layers; l++)
        {
            string p = TensorNames.LlmLayer(l);
            w.Add(p + "self_attn.q_proj.weight", Normal(rng, d * d, 1.5 / Math.Sqrt(d)), [d, d]);
            w.Add(p + "self_attn.k_proj.weight", Normal(rng, kv * d, 1.5 / Math.Sqrt(d)), [kv, d]);
            w.Add(p + "self_attn.v_proj.weight", Normal(rng, kv * d, 1.0 / Math.Sqrt(d)), [kv, d]);
            w.Add(p + "self_attn.o_proj.weight", Normal(rng, d * d, 1.0 / Math.Sqrt(d)), [d, d]);
            w.Add(p + "mlp.gate_proj.weight", Normal(rng, m * d, 1.0 / Math.Sqrt(d)), [m, d]);
            w.Add(p + "mlp.up_proj.weight", Normal(rng, m * d, 1.0 / Math.Sqrt(d)), [m, d]);
            w.Add(p + "mlp.down_proj.weight", Normal(rng, d * m, 1.0 / Math.Sqrt(m)), [d, m]);
            w.Add(p + "input_layernorm.weight", Around(rng, d, 1.0, 0.1), [d]);
            w.Add(p + "post_attention_layernorm.weight", Around(rng, d, 1.0, 0.1), [d]);
        }
        w.Write(_dir.File("model.safetensors"));
    }

    public LlavaModel Load() => LlavaModel.Load(Path);

    /// <summary>A prompt of <paramref name="before"/> text ids, the image slot, <paramref name="after"/> text ids, and
    /// <paramref name="visual"/> random visual tokens [visual, Hidden] (standing in for projector output).</summary>
    public static (int[] Ids, float[] Visual) Prompt(LlavaModel model, int before, int visual, int after, int seed)
    {
        var rng = new Random(seed);
        int image = model.Config.ImageTokenIndex;
        var ids = new int[before + 1 + after];
        for (int i = 0; i < ids.Length; i++)
        {
            int t;
            do t = rng.Next(3, model.Config.Text.VocabSize); while (t == image);
            ids[i] = t;
        }
        ids[0] = 1;
        ids[before] = image;
        return (ids, Normal(rng, visual * model.Config.Text.HiddenSize, 1.0));
    }

    public static float[] Normal(Random rng, int count, double std)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            a[i] = (float)(std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    static float[] Around(Random rng, int count, double mean, double spread) =>
        Normal(rng, count, spread).Select(x => (float)(mean + x)).ToArray();

    public void Dispose() => _dir.Dispose();
}
