using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Numerics;
using TokenSieve.Reduction;
using Xunit.Abstractions;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Reduction;

/// <summary>The official PruMerge code's outputs (fixtures/prumerge, 42Shawn/LLaVA-PruMerge @ 097c041)
/// reproduced for every case and variant: identical kept indices in the same order, outputs
/// within 1e-4 relative.</summary>
public sealed class PruMergeGoldenTests(ITestOutputHelper output)
{
    static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "data", "prumerge");

    // Reference and ours are both fp32 with different summation orders over ≤ 576·C products;
    // the golden tie margins (≥ 6e-8 within the top-k, ≥ 1.8e-6 at the top-32 cut) are far above
    // fp32 rounding of values ~1e-3, so indices must match exactly and values to ~1e-6; 1e-4
    // relative (to the row's largest magnitude) leaves room for accumulation-order noise.
    const double Tolerance = 1e-4;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateObject())
            foreach (var v in new[] { "prumerge", "prumerge_plus", "prumerge_fixed" })
                data.Add(c.Name, v);
        return data;
    }

    static string SpecFor(string variant) => variant switch
    {
        "prumerge" => "prumerge",
        "prumerge_plus" => "prumerge+",
        "prumerge_fixed" => "prumerge:ratio=0.125",
        _ => throw new ArgumentException(variant),
    };

    internal static ReductionInput LoadInput(SafetensorsFile st, string name)
    {
        var features = st.Get($"{name}.inputs.image_features");
        int n = features.Shape[1], c = features.Shape[2];
        int side = (int)Math.Round(Math.Sqrt(n));
        return new ReductionInput
        {
            Features = features.ToFloats(),
            GridHeight = side,
            GridWidth = n / side,
            Channels = c,
            LastLayerQueries = st.Get($"{name}.inputs.q").ToFloats(),
            LastLayerKeys = st.Get($"{name}.inputs.k").ToFloats(),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesOfficialOutput(string name, string variant)
    {
        using var st = SafetensorsFile.Open(Path.Combine(Dir, "golden.safetensors"));
        var input = LoadInput(st, name);
        var reducer = MethodCatalog.ParseVision(SpecFor(variant));
        var result = reducer.Reduce(input, ComputeContext.SingleThread);

        var expectedKept = st.Get($"{name}.{variant}.kept_idx").ToFloats().Select(v => (int)v).ToArray();
        Assert.Equal(expectedKept, result.KeptIndices);

        var expected = st.Get($"{name}.{variant}.output");
        Assert.Equal(expected.Shape[1], result.TokenCount);
        Assert.Equal(expected.Shape[2], result.Width);
        double maxRel = MaxRowRelativeError(result.Tokens, expected.ToFloats(), result.Width);
        output.WriteLine($"{name} {variant}: kept {result.KeptIndices.Length}, outliers {result.AdaptiveCount}, max row-relative error {maxRel:E2}");
        Assert.True(maxRel <= Tolerance, $"max relative error {maxRel:E3} > {Tolerance}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OutlierStatisticsMatchGolden(string name, string variant)
    {
        if (variant == "prumerge_fixed") return;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json")));
        var g = doc.RootElement.GetProperty("cases").GetProperty(name).GetProperty(variant);
        using var st = SafetensorsFile.Open(Path.Combine(Dir, "golden.safetensors"));
        var input = LoadInput(st, name);
        var a = PruMergeReducer.SurrogateClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, input.PatchCount, input.Channels);
        var golden = st.Get($"{name}.cls_attn").ToFloats();
        // fp32 softmax of the same logits: relative agreement ~1e-6.
        Assert.True(MaxRowRelativeError(a, golden, a.Length) <= 1e-5);
        var (q1, q3, fence) = Percentiles.IqrUpperFence(a);
        var pct = g.GetProperty("np_percentile_25_75");
        Assert.Equal(pct[0].GetDouble(), q1, 1e-6 * pct[0].GetDouble());
        Assert.Equal(pct[1].GetDouble(), q3, 1e-6 * pct[1].GetDouble());
        Assert.Equal(g.GetProperty("upper_bound").GetDouble(), fence, 1e-6 * fence);
        Assert.Equal(g.GetProperty("outlier_count").GetInt32(), PruMergeReducer.OutlierCount(a));
    }

    /// <summary>max over rows of ‖y − g‖∞ / ‖g‖∞ (element-wise relative error is meaningless for
    /// entries near zero).</summary>
    internal static double MaxRowRelativeError(float[] actual, float[] expected, int width)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = 0;
        for (int r = 0; r < expected.Length / width; r++)
        {
            double diff = 0, scale = 0;
            for (int j = r * width; j < (r + 1) * width; j++)
            {
                diff = Math.Max(diff, Math.Abs(actual[j] - (double)expected[j]));
                scale = Math.Max(scale, Math.Abs((double)expected[j]));
            }
            worst = Math.Max(worst, scale == 0 ? diff : diff / scale);
        }
        return worst;
    }
}
