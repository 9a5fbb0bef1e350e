using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Models;

/// <summary>Golden parity against transformers 4.45.1 on the qwen2-vl-tiny fixture, both cases (one image;
/// two images of different sizes, one from each smart_resize branch), through the same dump the CLI
/// writes. Tolerances: pixel values 1e-6 absolute (one uint8 step is ≈0.015 after normalisation);
/// grids, M-RoPE position ids, rope deltas, decode positions and greedy ids exact; every float
/// activation and logit within 1e-4 of max(1, max|ref|) — the fixture's float64 recomputation agrees
/// with every tensor to 4.7e-6 of max|ref|, so 1e-4 leaves room for fp32 summation order only, while
/// the mistakes the fixture measured (1-D positions, swapped h/w rows, decode positions without
/// rope_deltas) move the logits by 0.78–6.8.</summary>
public sealed class Qwen2VlTinyParityTests
{
    const double Tol = 1e-4;
    static string Dir => TestData.Path("qwen2-vl-tiny");

    public static TheoryData<string, string[]> Cases => new()
    {
        { "golden", ["image.png"] },
        { "golden.two_images", ["image_a.png", "image_b.png"] },
    };

    sealed class Case : IDisposable
    {
        public readonly SafetensorsFile File;
        public readonly JsonDocument Json;

        public Case(string name)
        {
            File = SafetensorsFile.Open(Path.Combine(Dir, name + ".safetensors"));
            Json = JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(Dir, name + ".json")));
        }

        public int[] Ints(string key) => Json.RootElement.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();

        public void Dispose()
        {
            File.Dispose();
            Json.Dispose();
        }
    }

    internal static Dictionary<string, (float[] Values, int[] Shape)> Dump(string? weights, string[] images, int[] ids, ComputeContext? ctx = null)
    {
        using var model = Qwen2VlModel.Load(Dir, new ModelLoadOptions { WeightsFile = weights });
        var pipeline = new Qwen2VlPipeline(model, ctx ?? new ComputeContext(2));
        var prepared = images.Select(f => pipeline.Prepare(ImageDecoder.Load(Path.Combine(Dir, f)), f)).ToList();
        return Qwen2VlParityDump.Run(pipeline, prepared, ids, 8);
    }

    /// <summary>max |a − b| / max(1, max |expected|).</summary>
    internal static double Error(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 1, worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
            worst = Math.Max(worst, Math.Abs((double)expected[i] - actual[i]));
        }
        return worst / scale;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dump_matches_every_golden_tensor_with_float32_weights(string name, string[] images)
    {
        using var golden = new Case(name);
        var dump = Dump(null, images, golden.Ints("input_ids"));
        int compared = 0;
        foreach (var tensor in golden.File.Names.Where(n => !n.StartsWith("f16w.") && !n.StartsWith("bf16w.")))
        {
            Assert.True(dump.ContainsKey(tensor), $"the dump has no '{tensor}'");
            var (values, shape) = dump[tensor];
            var expected = golden.File.Get(tensor);
            Assert.Equal(expected.Shape, shape);
            var reference = expected.ToFloats();
            if (tensor.EndsWith(".pixel_values"))
                TestData.AssertClose(reference, values, 1e-6, 0, tensor);
            else if (tensor.EndsWith("image_grid_thw") || tensor.EndsWith("resized_hwc") || tensor.Contains("position_ids") || tensor == "llm.rope_deltas")
                Assert.True(reference.SequenceEqual(values), $"{tensor} differs: [{string.Join(",", values.Take(40))}] vs [{string.Join(",", reference.Take(40))}]");
            else
            {
                double error = Error(reference, values);
                Assert.True(error <= Tol, $"{tensor}: max |diff| is {error:g3} of max(1, max|ref|), over {Tol}");
            }
            compared++;
        }
        Assert.True(compared >= 19, $"only {compared} tensors compared");
        Assert.Equal(golden.Ints("generated_ids"), dump["generated_ids"].Values.Select(v => (int)v).ToArray());
        Assert.Equal(golden.Json.RootElement.GetProperty("rope_deltas").GetInt32(), (int)dump["llm.rope_deltas"].Values[0]);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Half_precision_weight_files_match_their_golden_logits(string name, string[] images)
    {
        using var golden = new Case(name);
        foreach (var (file, prefix) in new[] { ("model.f16.safetensors", "f16w"), ("model.bf16.safetensors", "bf16w") })
        {
            var dump = Dump(file, images, golden.Ints("input_ids"));
            double error = Error(golden.File.Get(prefix + ".llm.logits").ToFloats(), dump["llm.logits"].Values);
            Assert.True(error <= Tol, $"{prefix}.llm.logits: max |diff| is {error:g3} of max(1, max|ref|), over {Tol}");
        }
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count()
    {
        using var golden = new Case("golden.two_images");
        var one = Dump(null, ["image_a.png", "image_b.png"], golden.Ints("input_ids"), ComputeContext.SingleThread);
        var two = Dump(null, ["image_a.png", "image_b.png"], golden.Ints("input_ids"), new ComputeContext(2));
        Assert.Equal(one["llm.logits"].Values, two["llm.logits"].Values);
        Assert.Equal(one["generate.step_logits"].Values, two["generate.step_logits"].Values);
    }
}
