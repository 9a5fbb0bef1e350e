using TokenSieve.Numerics;
using TokenSieve.Reduction;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Reduction;

public sealed class RandomSelectionTests
{
    [Fact]
    public void SplitMix64MatchesTheReferenceSequence()
    {
        // Vigna's splitmix64.c seeded with 0
        var rng = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, rng.Next());
        Assert.Equal(0x6E789E6AA1B965F4UL, rng.Next());
        Assert.Equal(0x06C45D188009454FUL, rng.Next());
    }

    [Fact]
    public void SampleIsAPartialFisherYatesSortedAscending()
    {
        // by hand: n = 5, k = 2; step i swaps position i with i + NextBelow(5 − i)
        var rng = new SplitMix64(42);
        var perm = new[] { 0, 1, 2, 3, 4 };
        for (int i = 0; i < 2; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(5 - i));
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        var expected = perm[..2].OrderBy(v => v).ToArray();
        Assert.Equal(expected, RandomSelectionReducer.Sample(5, 2, 42));
    }

    [Fact]
    public void KeepsRasterOrderAndIsSeeded()
    {
        var input = TestInputs.Full(24, 24, 4, heads: 1, seed: 4);
        var a = MethodCatalog.ParseVision("random:64:seed=1").Reduce(input, ComputeContext.SingleThread);
        var b = MethodCatalog.ParseVision("random:64,seed=1").Reduce(input, ComputeContext.SingleThread);
        var c = MethodCatalog.ParseVision("random:64:seed=2").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(a.KeptIndices, b.KeptIndices);
        Assert.NotEqual(a.KeptIndices, c.KeptIndices);
        Assert.Equal(64, a.KeptIndices.Distinct().Count());
        Assert.Equal(a.KeptIndices.OrderBy(v => v), a.KeptIndices);
        Assert.False(a.AlreadyProjected);
        for (int t = 0; t < 64; t++) Assert.Equal(input.Features.AsSpan(a.KeptIndices[t] * 4, 4).ToArray(), a.Token(t).ToArray());
        // without a seed in the spec, the input's seed is used
        var fromInput = MethodCatalog.ParseVision("random:64").Reduce(new ReductionInput { Features = input.Features, GridHeight = 24, GridWidth = 24, Channels = 4, Seed = 1 }, ComputeContext.SingleThread);
        Assert.Equal(a.KeptIndices, fromInput.KeptIndices);
    }
}

public sealed class PoolingTests
{
    [Theory]
    [InlineData(144, 12, 12)]
    [InlineData(64, 8, 8)]
    [InlineData(36, 6, 6)]
    [InlineData(16, 4, 4)]
    [InlineData(9, 3, 3)]
    [InlineData(4, 2, 2)]
    [InlineData(192, 16, 12)]
    [InlineData(128, 16, 8)]
    public void OutputGridFollowsMethodsTable(int budget, int rows, int cols)
    {
        Assert.Equal((rows, cols), PoolingReducer.OutputGrid(24, 24, budget, "pool"));
    }

    [Fact]
    public void AdaptiveBinsAreTorchs()
    {
        // 24 → 16: overlapping 2-wide bins (0,2), (1,3), (3,5), (4,6), …
        Assert.Equal((0, 2), PoolingReducer.AdaptiveBin(0, 16, 24));
        Assert.Equal((1, 3), PoolingReducer.AdaptiveBin(1, 16, 24));
        Assert.Equal((3, 5), PoolingReducer.AdaptiveBin(2, 16, 24));
        Assert.Equal((4, 6), PoolingReducer.AdaptiveBin(3, 16, 24));
        Assert.Equal((22, 24), PoolingReducer.AdaptiveBin(15, 16, 24));
        // 24 → 12 and 24 → 8: exact windows of 2 and 3
        for (int i = 0; i < 12; i++) Assert.Equal((2 * i, 2 * i + 2), PoolingReducer.AdaptiveBin(i, 12, 24));
        for (int i = 0; i < 8; i++) Assert.Equal((3 * i, 3 * i + 3), PoolingReducer.AdaptiveBin(i, 8, 24));
    }

    static ReductionInput Ramp(int gh, int gw, Func<float[], int, float[]>? project = null)
    {
        // one channel, value = patch index
        var f = Enumerable.Range(0, gh * gw).Select(p => (float)p).ToArray();
        return new ReductionInput { Features = f, GridHeight = gh, GridWidth = gw, Channels = 1, Project = project };
    }

    [Fact]
    public void ExactWindowsOnAFourByFourGrid()
    {
        var r = MethodCatalog.ParseVision("pool:4,stage=pre").Reduce(Ramp(4, 4), ComputeContext.SingleThread);
        // windows {0,1,4,5} {2,3,6,7} {8,9,12,13} {10,11,14,15}
        Assert.Equal([2.5f, 4.5f, 10.5f, 12.5f], r.Tokens);
        Assert.Equal([0, 1, 4, 5], r.Provenance[0].Patches);
        Assert.All(r.Provenance[0].Weights, w => Assert.Equal(0.25f, w));
        Assert.Empty(r.KeptIndices);
        Assert.All(r.PositionGrid(PositionGridMode.Weight), w => Assert.Equal(0.25f, w));
    }

    [Fact]
    public void AdaptiveBinsOverlapWhereTheGridDoesNotTile()
    {
        // budget 6 on 4×4 → 3×2: row bins (0,2) (1,3) (2,4), column bins (0,2) (2,4)
        var r = MethodCatalog.ParseVision("pool:6,stage=pre").Reduce(Ramp(4, 4), ComputeContext.SingleThread);
        Assert.Equal(6, r.TokenCount);
        Assert.Equal([2.5f, 4.5f, 6.5f, 8.5f, 10.5f, 12.5f], r.Tokens);
        Assert.Equal([4, 5, 8, 9], r.Provenance[2].Patches);
        var counts = r.PositionGrid(PositionGridMode.Count);
        Assert.Equal(2f, counts[4]); // row 1 lies in row bins 0 and 1
        Assert.Equal(1f, counts[0]);
    }

    [Fact]
    public void StagePostPoolsProjectedTokens()
    {
        Func<float[], int, float[]> square = (f, rows) => f.Select(v => v * v).ToArray();
        var pre = MethodCatalog.ParseVision("pool:4,stage=pre").Reduce(Ramp(4, 4, square), ComputeContext.SingleThread);
        var post = MethodCatalog.ParseVision("pool:4").Reduce(Ramp(4, 4, square), ComputeContext.SingleThread);
        Assert.False(pre.AlreadyProjected);
        Assert.True(post.AlreadyProjected);
        Assert.Equal((0f + 1 + 16 + 25) / 4, post.Tokens[0]); // mean of squares, not square of the mean
        Assert.Equal(2.5f, pre.Tokens[0]);
    }

    [Fact]
    public void Budgets192And128UseAdaptiveBinsOnTheLlavaGrid()
    {
        var ramp = Ramp(24, 24);
        var r192 = MethodCatalog.ParseVision("pool:192,stage=pre").Reduce(ramp, ComputeContext.SingleThread);
        // 16×12: output (1, 0) averages rows [1, 3) × columns [0, 2) = patches 24, 25, 48, 49
        Assert.Equal([24, 25, 48, 49], r192.Provenance[12].Patches);
        Assert.Equal((24f + 25 + 48 + 49) / 4, r192.Tokens[12]);
        // output (2, 11): rows [3, 5), columns [22, 24)
        Assert.Equal([94, 95, 118, 119], r192.Provenance[2 * 12 + 11].Patches);
        var r128 = MethodCatalog.ParseVision("pool:128,stage=pre").Reduce(ramp, ComputeContext.SingleThread);
        // 16×8: rows as above, columns in exact 3-wide bins
        Assert.Equal([27, 28, 29, 51, 52, 53], r128.Provenance[8 + 1].Patches);
        Assert.Equal(128, r128.TokenCount);
    }

    [Fact]
    public void LlavaSizedBudgetsGiveTheirTokenCounts()
    {
        var input = TestInputs.Full(24, 24, 3, heads: 1, seed: 5);
        foreach (var (spec, count) in new[] { ("pool:144", 144), ("pool:192,stage=pre", 192), ("pool:128,stage=pre", 128), ("pool:64", 64) })
            Assert.Equal(count, MethodCatalog.ParseVision(spec).Reduce(input, ComputeContext.SingleThread).TokenCount);
        Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseVision("pool:29,stage=pre").Reduce(input, ComputeContext.SingleThread)); // prime > 24
    }
}

public sealed class FasterVlmTests
{
    static ReductionInput TwoByTwo()
    {
        // heads 2, rows [CLS, p0..p3]; head means .25 .375 .25 .25 (exact in binary)
        float[] attn = [0.5f, 0.125f, 0.5f, 0.25f, 0.375f, 0.5f, 0.375f, 0.25f, 0.25f, 0.125f];
        return new ReductionInput
        {
            Features = [10, 11, 12, 13], GridHeight = 2, GridWidth = 2, Channels = 1, Heads = 2,
            FeatureLayerClsAttention = attn,
        };
    }

    [Fact]
    public void HeadMeanOfTheClsRowWithoutTheClsColumn()
    {
        Assert.Equal([0.25f, 0.375f, 0.25f, 0.25f], FasterVlmReducer.HeadMeanClsAttention(TwoByTwo().FeatureLayerClsAttention!, 2, 4));
    }

    [Fact]
    public void KeepsTopTInRasterOrderWithLowerIndexOnTies()
    {
        var r = MethodCatalog.ParseVision("fastervlm:2").Reduce(TwoByTwo(), ComputeContext.SingleThread);
        Assert.Equal([0, 1], r.KeptIndices); // p1 first by score, then the tie p0/p2/p3 goes to p0; output ascending
        Assert.Equal([10f, 11f], r.Tokens);
        r = MethodCatalog.ParseVision("fastervlm:3").Reduce(TwoByTwo(), ComputeContext.SingleThread);
        Assert.Equal([0, 1, 2], r.KeptIndices);
    }
}

public sealed class VisionZipTests
{
    static ReductionInput Small()
    {
        // 2×3 grid, C = 4, 2 heads of 2. Dominant by head-summed CLS attention: p4 (.5), p1 (.3).
        float[] attn = [0.5f, 0.01f, 0.2f, 0.01f, 0.01f, 0.3f, 0.01f,
                        0.5f, 0.02f, 0.1f, 0.02f, 0.02f, 0.2f, 0.02f];
        // keys row = [m0, m1, m0, m1], so the head mean is (m0, m1)
        (float, float)[] metric = [(0, 0), (1, 0), (5, 5), (0, 3), (0, 1), (7, 7), (1, 1)];
        var keys = metric.SelectMany(m => new[] { m.Item1, m.Item2, m.Item1, m.Item2 }).ToArray();
        float[] v = [1, 10, 100, 1000];
        var features = Enumerable.Range(0, 6).SelectMany(p => v.Select(x => (p + 1) * x)).ToArray();
        return new ReductionInput
        {
            Features = features, GridHeight = 2, GridWidth = 3, Channels = 4, Heads = 2,
            FeatureLayerClsAttention = attn, FeatureLayerKeys = keys, ClsHiddenState = [-1, -1, -1, -1],
        };
    }

    [Fact]
    public void ClsFirstThenDominantAscendingThenContextual()
    {
        var r = MethodCatalog.ParseVision("visionzip:3+2").Reduce(Small(), ComputeContext.SingleThread);
        // R = [0, 2, 3, 5], step = ⌊4/2⌋ = 2 → targets p0, p3; sources p2 (metric (0,1) → p3),
        // p5 (metric (1,1)/√2: an exact tie between the targets → the first, p0)
        Assert.Equal([1, 4, 0, 3], r.KeptIndices);
        Assert.Equal(5, r.TokenCount);
        Assert.True(r.Provenance[0].IsClassToken);
        Assert.Equal([-1f, -1, -1, -1], r.Token(0).ToArray());
        Assert.Equal([2f, 20, 200, 2000], r.Token(1).ToArray()); // p1 = 2·v
        Assert.Equal([5f, 50, 500, 5000], r.Token(2).ToArray()); // p4
        // contextual = target + mean of assigned (the target is not in the mean): p0 + p5 = 1v + 6v
        Assert.Equal([7f, 70, 700, 7000], r.Token(3).ToArray());
        Assert.Equal([7f, 70, 700, 7000], r.Token(4).ToArray()); // p3 + p2 = 4v + 3v
        Assert.Equal([0, 5], r.Provenance[3].Patches);
        Assert.Equal([1f, 1f], r.Provenance[3].Weights);
    }

    [Fact]
    public void TargetsWithoutAssignmentsStayUnchangedAndMeansAreDivided()
    {
        var input = Small();
        // move p5's metric next to p3: both sources go to p3, p0 gets nothing
        input.FeatureLayerKeys![6 * 4 + 0] = 0; input.FeatureLayerKeys[6 * 4 + 2] = 0;
        var r = MethodCatalog.ParseVision("visionzip:3+2").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal([1f, 10, 100, 1000], r.Token(3).ToArray());
        Assert.Equal([8.5f, 85, 850, 8500], r.Token(4).ToArray()); // 4v + (3v + 6v)/2
        Assert.Equal([1f, 0.5f, 0.5f], r.Provenance[4].Weights);
    }

    [Fact]
    public void TargetsAreEvenlySpacedInTheRemainingList()
    {
        // 54 + 10 at N = 576: |R| = 523, step 52, targets R[0], R[52], …, R[468]
        var input = TestInputs.Full(24, 24, 8, heads: 2, seed: 6);
        var r = MethodCatalog.ParseVision("visionzip:54+10").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(64, r.TokenCount);
        var dominant = r.KeptIndices[..53];
        Assert.Equal(dominant.OrderBy(p => p), dominant);
        var remaining = Enumerable.Range(0, 576).Except(dominant).ToArray();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => remaining[52 * i]), r.KeptIndices[53..]);
        // every non-dominant, non-target patch is merged into exactly one contextual token
        var merged = r.Provenance[54..].SelectMany(p => p.Patches).ToArray();
        Assert.Equal(remaining.Length, merged.Length);
        Assert.Equal(remaining, merged.OrderBy(p => p));
    }
}

public sealed class DivPruneTests
{
    static ReductionInput FourPoints() => new()
    {
        // z0 = (1,0), z1 = (0.9,0.1) near z0, z2 = (0,1), z3 = (−1,0); identity projector
        Features = [1, 0, 0.9f, 0.1f, 0, 1, -1, 0], GridHeight = 2, GridWidth = 2, Channels = 2,
        Project = (f, rows) => (float[])f.Clone(),
    };

    [Fact]
    public void SeedIsTheMostIsolatedTokenThenMaxMin()
    {
        // second-smallest per column: col0 d01 ≈ .006, col1 ≈ .006, col2 min(1, .89, 1) = .89,
        // col3 min(2, 1.99, 1) = 1 → seed 3; then max-min: z0 (distance 2), then z2 (1).
        var r = MethodCatalog.ParseVision("divprune:2").Reduce(FourPoints(), ComputeContext.SingleThread);
        Assert.Equal([0, 3], r.KeptIndices);
        Assert.True(r.AlreadyProjected);
        r = MethodCatalog.ParseVision("divprune:3").Reduce(FourPoints(), ComputeContext.SingleThread);
        Assert.Equal([0, 2, 3], r.KeptIndices);
        Assert.Equal([1f, 0, 0, 1, -1, 0], r.Tokens);
    }

    [Fact]
    public void FirstIndexWinsTiesAndSelectedTokensAreNotExcluded()
    {
        // two identical pairs: seed column minima tie → first index (0); with M = 4 and only two
        // distinct directions, the third pick re-selects an index at distance 0, as the reference does.
        var input = new ReductionInput
        {
            Features = [1, 0, 1, 0, 0, 1, 0, 1], GridHeight = 1, GridWidth = 4, Channels = 2,
            Project = (f, rows) => (float[])f.Clone(),
        };
        var kept = DivPruneReducer.Select(input.Features, 4, 2, 4, ComputeContext.SingleThread);
        // seed 0 (all second-smallest are 0 → first); then 2 (distance 1); then all minima 0 → 0
        Assert.Equal([0, 0, 0, 2], kept);
    }

    [Fact]
    public void RatioBudgetRoundsHalfToEven()
    {
        var input = TestInputs.Full(24, 24, 4, heads: 1, seed: 8);
        Assert.Equal(56, MethodCatalog.ParseVision("divprune:ratio=0.098").Reduce(input, ComputeContext.SingleThread).TokenCount);
        Assert.Equal(56, DivPruneReducer.BudgetForRatio(0.098, 576));
        Assert.Equal(64, DivPruneReducer.BudgetForRatio(0.1111, 576));
        Assert.Equal(128, DivPruneReducer.BudgetForRatio(0.2222, 576));
        Assert.Equal(192, DivPruneReducer.BudgetForRatio(0.3333, 576));
        Assert.Equal(2, DivPruneReducer.BudgetForRatio(0.5, 5)); // 2.5 → 2
    }
}
