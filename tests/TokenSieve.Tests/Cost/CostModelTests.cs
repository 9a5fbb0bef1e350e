using TokenSieve.Checkpoints;
using TokenSieve.Cost;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cost;

public sealed class CostModelTests
{
    static readonly LlamaConfig Llama7B = SyntheticCheckpoint.Find("llava-1.5-7b").Text;

    [Fact]
    public void Decoder_layer_matches_the_methods_md_formula_for_llama_7b()
    {
        // METHODS.md §13: 4nd² + 2n²d + 3ndm MAC per layer (d = 4096, m = 11008, no GQA).
        double n = 611, d = 4096, m = 11008;
        double mac = 4 * n * d * d + 2 * n * n * d + 3 * n * d * m;
        Assert.Equal(2 * mac, CostModel.DecoderLayerFlops(Llama7B, 611), 6);
    }

    [Fact]
    public void Fastv_theoretical_reduction_follows_from_the_per_layer_counts()
    {
        // FastV K=2, R=50% on a 611-token prompt: layers 0..1 at 611 tokens, 2..31 at 323.
        var counts = Enumerable.Range(0, 32).Select(l => l < 2 ? 611 : 611 - 288).ToArray();
        double full = CostModel.PrefillFlops(Llama7B, 611) - CostModel.LmHeadFlops(Llama7B, 1);
        double pruned = CostModel.PrefillFlops(Llama7B, counts) - CostModel.LmHeadFlops(Llama7B, 1);
        double f(double nn) => CostModel.DecoderLayerFlops(Llama7B, (long)nn);
        double expected = 1 - (2 * f(611) + 30 * f(323)) / (32 * f(611));
        Assert.Equal(expected, 1 - pruned / full, 12);
        Assert.InRange(1 - pruned / full, 0.40, 0.50);
    }

    [Fact]
    public void Kv_bytes_follow_each_layers_own_length()
    {
        var counts = new[] { 10, 10, 4 };
        var cfg = SyntheticCheckpoint.Find("tiny-1b").Text with { NumHiddenLayers = 3 };
        Assert.Equal(2L * (10 + 10 + 4) * cfg.KvDim * 4, CostModel.KvCacheBytes(cfg, counts));
        Assert.Throws<ArgumentException>(() => CostModel.PrefillFlops(cfg, new[] { 1, 2 }));
    }

    [Fact]
    public void Synthetic_checkpoint_of_a_custom_shape_loads_and_runs_in_every_dtype()
    {
        var shape = new SyntheticCheckpoint.Shape("test", new ClipVisionConfig(32, 64, 3, 2, 3, 28, 14, "quick_gelu", 1e-5f),
            new LlamaConfig(300, 32, 48, 2, 4, 2, "silu", 128, 1e-5f, 10000f, 1, 2, false), "test");
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            using var dir = TestData.TempDir();
            SyntheticCheckpoint.Write(dir.Path, shape, dtype, seed: 3);
            using var m = LlavaModel.Load(dir.Path);
            Assert.Equal(SyntheticCheckpoint.WeightBytes(shape, dtype), m.WeightBytes);
            Assert.Equal(2, m.Config.Text.NumKeyValueHeads);
            var session = new InferenceSession(m, ComputeContext.SingleThread);
            var pixels = new float[3 * 28 * 28];
            var vision = m.Vision.Forward(session.Compute, pixels);
            var visual = session.Project(vision.PatchFeatures, 4);
            var seq = session.Splice([1, 5, SyntheticCheckpoint.ImageTokenIndex(shape.Text), 7], 2, visual, 4);
            var logits = session.Prefill(seq, 0).LastLogits;
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        }
    }
}
