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
        var vision = new ClipVisionConfig(HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 2, NumChannels: 3, ImageSize: 28, PatchSize: 14, "quick_gelu", 1e-5f);
        var text = new LlamaConfig(s.Vocab, s.Hidden, s.Intermediate, s.Layers, s.Heads, s.KvHeads, "silu", s.MaxPositions, 1e-5f, 10000f, 1, 2, false);
        File.WriteAllText(Path.Combine(folder, "config.json"), LlavaConfigWriter.ToJson(LlavaConfigWriter.Create(vision, text, ImageTokenIndex, null)));

        var rng = new Random(seed);
        var w = new SafetensorsWriter();
        foreach (var t in LlavaSchema.Tensors(vision, text))
        {
            int n = (int)t.Count;
            // Decoder q/k drawn 1.5x larger than 1/sqrt(fan-in) so attention is peaked, as in a trained model.
            bool peaked = t.Name.StartsWith(TensorNames.Llm, StringComparison.Ordinal) && (t.Name.Contains(".q_proj.") || t.Name.Contains(".k_proj."));
            var values = t.Kind switch
            {
                TensorKind.NormWeight => Normal(rng, n, 0.1, 1.0),
                TensorKind.Bias or TensorKind.NormBias => Normal(rng, n, 0.01, 0),
                TensorKind.Embedding => Normal(rng, n, t.Name == TensorNames.PositionEmbedding ? 0.1 : 1, 0),
                _ => Normal(rng, n, (peaked ? 1.5 : 1) / Math.Sqrt(t.FanIn), 0),
            };
            w.Add(t.Name, values, t.Shape);
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
