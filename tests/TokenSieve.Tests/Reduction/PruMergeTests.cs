using TokenSieve.Numerics;
using TokenSieve.Reduction;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Reduction;

public sealed class PruMergeTests
{
    /// <summary>A synthetic input whose surrogate [CLS] logits are a uniform bulk (no IQR
    /// outliers: Q3 + 1.5·IQR of e^U lies above e) plus <paramref name="boosted"/> patches with
    /// logits in [3, 4], which are exactly the outliers while they are under a quarter of N.</summary>
    internal static ReductionInput Synthetic(int side, int c, int boosted, int seed, int heads = 1, int gridWidth = 0)
    {
        int gw = gridWidth == 0 ? side : gridWidth, n = side * gw;
        var rng = new Random(seed);
        float[] Rand(int len) { var r = new float[len]; for (int i = 0; i < len; i++) r[i] = (float)(rng.NextDouble() * 2 - 1); return r; }
        var x = Rand(n * c);
        var q = Rand((n + 1) * c);
        var k = Rand((n + 1) * c);
        Array.Clear(q, 0, c);
        q[0] = MathF.Sqrt(c); // logit_j = k_j0
        var tail = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(boosted).ToHashSet();
        for (int j = 0; j <= n; j++)
            k[j * c] = (float)(j > 0 && tail.Contains(j - 1) ? 3 + rng.NextDouble() : rng.NextDouble());
        return new ReductionInput { Features = x, GridHeight = side, GridWidth = gw, Channels = c, Heads = heads, LastLayerQueries = q, LastLayerKeys = k };
    }

    [Theory]
    [InlineData(24, 1024, 33, 1)]
    [InlineData(24, 1024, 120, 2)]
    [InlineData(24, 256, 7, 3)]
    [InlineData(16, 96, 20, 4)]
    [InlineData(7, 32, 3, 5)]
    public void MatchesScalarReferenceOnOtherShapes(int side, int c, int boosted, int seed)
    {
        var input = Synthetic(side, c, boosted, seed);
        foreach (var (spec, plus, ratio) in new[] { ("prumerge", false, (double?)null), ("prumerge+", true, null), ("prumerge:ratio=0.125", false, 0.125) })
        {
            var result = MethodCatalog.ParseVision(spec).Reduce(input, ComputeContext.SingleThread);
            var (kept, output, outliers) = PruMergeReference.Run(input.Features, input.LastLayerQueries!, input.LastLayerKeys!, input.PatchCount, c, plus, ratio);
            if (ratio is null)
            {
                Assert.Equal(boosted, outliers);
                Assert.Equal(outliers, result.AdaptiveCount);
            }
            Assert.Equal(kept, result.KeptIndices);
            // float32 vs float64 sums of ≤ 576 terms: ~1e-6 relative; 1e-4 as in the golden test.
            Assert.True(PruMergeGoldenTests.MaxRowRelativeError(result.Tokens, output.Select(v => (float)v).ToArray(), c) <= 1e-4, spec);
        }
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheResult()
    {
        var input = Synthetic(24, 128, 30, 9);
        var one = MethodCatalog.ParseVision("prumerge+").Reduce(input, ComputeContext.SingleThread);
        var many = MethodCatalog.ParseVision("prumerge+").Reduce(input, new ComputeContext(4));
        Assert.Equal(one.KeptIndices, many.KeptIndices);
        Assert.Equal(one.Tokens, many.Tokens);
    }

    [Fact]
    public void SpatialSupplementFollowsTheFlattenedStride()
    {
        // c = 33 → q = ⌊576/33⌋ = 17, σ = 5, S = 0, 5, …, 570 (115 samples, 575 never)
        var input = Synthetic(24, 64, 33, 11);
        var r = MethodCatalog.ParseVision("prumerge+").Reduce(input, ComputeContext.SingleThread);
        var ranked = r.KeptIndices[..33];
        var expectedSpatial = Enumerable.Range(0, 115).Select(i => 5 * i).Where(p => !ranked.Contains(p)).ToArray();
        Assert.Equal(expectedSpatial, r.KeptIndices[33..]);
        Assert.Equal(r.KeptIndices.Length + 1, r.TokenCount);
    }

    [Fact]
    public void ProvenanceDescribesCentresAndExtraToken()
    {
        var input = Synthetic(12, 32, 8, 12);
        var r = MethodCatalog.ParseVision("prumerge").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(9, r.TokenCount);
        var a = PruMergeReducer.SurrogateClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, 144, 32);
        for (int t = 0; t < 8; t++)
        {
            var p = r.Provenance[t];
            Assert.Equal(r.KeptIndices[t], p.Patches[0]);
            Assert.Equal(1f, p.Weights[0]);
            Assert.Equal(33, p.Patches.Length);
            Assert.DoesNotContain(p.Patches[0], p.Patches[1..]);
            for (int s = 1; s < p.Patches.Length; s++) Assert.Equal(a[p.Patches[s]], p.Weights[s]);
            // the token really is Σ weight·X over its provenance
            var y = new double[32];
            for (int s = 0; s < p.Patches.Length; s++)
                for (int d = 0; d < 32; d++) y[d] += p.Weights[s] * input.Features[p.Patches[s] * 32 + d];
            for (int d = 0; d < 32; d++) Assert.Equal(y[d], r.Token(t)[d], 1e-5);
        }
        var extra = r.Provenance[8];
        Assert.Equal(Enumerable.Range(0, 144).Except(r.KeptIndices).ToArray(), extra.Patches);
        var grid = r.PositionGrid(PositionGridMode.Kept);
        Assert.Equal(8, grid.Sum());
        Assert.All(r.KeptIndices, p => Assert.Equal(1f, grid[p]));
    }

    [Fact]
    public void ZeroOutliers_PruMergeEmitsOnlyTheExtraToken()
    {
        var input = Synthetic(24, 16, 0, 13);
        var r = MethodCatalog.ParseVision("prumerge").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(0, r.AdaptiveCount);
        Assert.Equal(1, r.TokenCount);
        Assert.Empty(r.KeptIndices);
        Assert.Null(r.Note);
        Assert.Equal(576, r.Provenance[0].Patches.Length);
    }

    [Fact]
    public void ZeroOutliers_PruMergePlusFallsBackWithANoteOrFailsFaithfully()
    {
        var input = Synthetic(24, 16, 0, 13);
        var r = MethodCatalog.ParseVision("prumerge+").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(1, r.TokenCount);
        Assert.Contains("zero IQR outliers", r.Note);
        var e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge+:onfail=error").Reduce(input, ComputeContext.SingleThread));
        Assert.Contains("divides by zero", e.Message);
    }

    [Fact]
    public void FixedBudgetKeepsExactlyKTokens()
    {
        var input = Synthetic(24, 64, 10, 14);
        var r = MethodCatalog.ParseVision("prumerge:keep=64").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(64, r.TokenCount);
        Assert.Equal(63, r.KeptIndices.Length);
        var a = PruMergeReducer.SurrogateClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, 576, 64);
        Assert.Equal(Selection.TopK(a, 63), r.KeptIndices);
        Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseVision("prumerge:keep=578").Reduce(input, ComputeContext.SingleThread));
    }

    [Fact]
    public void NormalisedWeightsAverageTheCluster()
    {
        var input = Synthetic(12, 16, 6, 15);
        var raw = MethodCatalog.ParseVision("prumerge").Reduce(input, ComputeContext.SingleThread);
        var norm = MethodCatalog.ParseVision("prumerge:weights=normalised").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(raw.KeptIndices, norm.KeptIndices);
        foreach (var p in norm.Provenance) Assert.Equal(1.0, p.Weights.Sum(w => (double)w), 1e-5);
        for (int t = 0; t < raw.KeptIndices.Length; t++)
            Assert.Equal(raw.Provenance[t].Patches, norm.Provenance[t].Patches);
    }

    [Fact]
    public void PerHeadAttentionUsesTheModelsHeads()
    {
        // With one head, per-head attention is the surrogate but scaled by 1/√C in both cases.
        var input = Synthetic(12, 32, 6, 16, heads: 1);
        var surrogate = PruMergeReducer.SurrogateClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, 144, 32);
        var perHead1 = PruMergeReducer.PerHeadClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, 144, 32, 1);
        for (int j = 0; j < 144; j++) Assert.Equal(surrogate[j], perHead1[j], 1e-6f);
        // Two heads of 1 channel: head h sees only channel h, scale 1.
        float[] q = [1, 2, 0, 0, 0, 0];
        float[] k = [0, 0, 1, 0, 0, 1];
        var a = PruMergeReducer.PerHeadClsAttention(q, k, 2, 2, 2);
        double h0p0 = Math.E / (2 + Math.E), h1p1 = Math.Exp(2) / (2 + Math.Exp(2));
        Assert.Equal((h0p0 + 1 / (2 + Math.Exp(2))) / 2, a[0], 1e-6);
        Assert.Equal((1 / (2 + Math.E) + h1p1) / 2, a[1], 1e-6);
        var r = MethodCatalog.ParseVision("prumerge:attn=heads").Reduce(Synthetic(12, 32, 6, 16, heads: 4), ComputeContext.SingleThread);
        Assert.NotNull(r.AdaptiveCount);
    }

    [Fact]
    public void FeatureLayerAttentionRanksByTheFasterVlmTap()
    {
        var full = TestInputs.Full(12, 12, 16, heads: 2, seed: 19);
        var reducer = MethodCatalog.ParseVision("prumerge:keep=11,attn=feature");
        Assert.Equal(VisionNeeds.LastLayerQK | VisionNeeds.FeatureLayerClsAttention, reducer.Needs);
        var r = reducer.Reduce(full, ComputeContext.SingleThread);
        var a = FasterVlmReducer.HeadMeanClsAttention(full.FeatureLayerClsAttention!, 2, 144);
        Assert.Equal(Selection.TopK(a, 10), r.KeptIndices);
        Assert.Equal(a[r.Provenance[0].Patches[1]], r.Provenance[0].Weights[1]);
    }

    [Fact]
    public void GridSpatialSamplingIsATwoDimensionalLattice()
    {
        // σ = 6 on 24×24: the reference keeps columns {0,6,12,18} of every row (96 samples);
        // the grid option takes a centred 2-D lattice of similar size.
        // lattice sizes ⌈24/g⌉²: g = 2 → 144, g = 3 → 64; 64 is closer to 96, centred at offset 1.
        var s = PruMergeReducer.GridSamples(24, 24, 96);
        var expected = from r in Enumerable.Range(0, 8) from c in Enumerable.Range(0, 8) select (1 + 3 * r) * 24 + 1 + 3 * c;
        Assert.Equal(expected.ToArray(), s);
        // a 5×7 grid, target 6: g = 3 gives 2×3 = 6; slack (5−1−3)/2 = 0 rows, (7−1−6)/2 = 0 cols
        Assert.Equal([0, 3, 6, 21, 24, 27], PruMergeReducer.GridSamples(5, 7, 6));
        var input = Synthetic(24, 64, 33, 11);
        var r2 = MethodCatalog.ParseVision("prumerge+:spatial=grid").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal("prumerge+:spatial=grid", MethodCatalog.ParseVision("prumerge+:spatial=grid").Name);
        Assert.Equal(33 + PruMergeReducer.GridSamples(24, 24, 115).Count(p => !r2.KeptIndices[..33].Contains(p)), r2.KeptIndices.Length);
    }

    [Fact]
    public void NonFiniteInputsAreNamed()
    {
        var input = Synthetic(12, 16, 6, 17);
        input.Features[5 * 16 + 3] = float.NaN;
        var e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge").Reduce(input, ComputeContext.SingleThread));
        Assert.Contains("'Features'", e.Message);
        input = Synthetic(12, 16, 6, 17);
        input.LastLayerKeys![40 * 16 + 1] = float.PositiveInfinity;
        e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge+").Reduce(input, ComputeContext.SingleThread));
        Assert.Contains("'LastLayerKeys'", e.Message);
        input = Synthetic(12, 16, 6, 17);
        input.LastLayerQueries![2] = float.NaN;
        e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge").Reduce(input, ComputeContext.SingleThread));
        Assert.Contains("'LastLayerQueries'", e.Message);
    }

    [Fact]
    public void InconsistentShapesAreNamed()
    {
        var input = Synthetic(12, 16, 6, 18);
        var bad = new ReductionInput { Features = input.Features, GridHeight = 12, GridWidth = 12, Channels = 16, LastLayerQueries = input.LastLayerQueries, LastLayerKeys = input.LastLayerKeys![..(144 * 16)] };
        var e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge").Reduce(bad, ComputeContext.SingleThread));
        Assert.Contains("'LastLayerKeys'", e.Message);
        Assert.Contains("[145,16]", e.Message);
        var missing = new ReductionInput { Features = input.Features, GridHeight = 12, GridWidth = 12, Channels = 16 };
        e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge").Reduce(missing, ComputeContext.SingleThread));
        Assert.Contains("'LastLayerQueries'", e.Message);
    }
}
