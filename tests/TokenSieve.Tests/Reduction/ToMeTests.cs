using TokenSieve.Numerics;
using TokenSieve.Reduction;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Reduction;

public sealed class ToMeTests
{
    // positions 0..4 (0 = CLS): 𝔸 = {0, 2, 4}, 𝔹 = {1, 3}. Metrics chosen without ties:
    // a2 = (.8,.6) → b1 = (1,0) at .8;  a4 = (.28,.96) → b3 = (0,1) at .96; CLS m0 = (1,0).
    static readonly float[] Metric = [1, 0, 1, 0, 0.8f, 0.6f, 0, 1, 0.28f, 0.96f];

    // token i = (i+1)·(1, 10)
    static readonly float[] X = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50];

    static readonly float[] Ones = [1, 1, 1, 1, 1];

    [Fact]
    public void MergesTheBestMatchedEvenTokenIntoItsOddPartner()
    {
        var m = ToMe.Merge(X, 5, 2, Metric, 2, Ones, r: 1, protectCls: true, sizeWeighted: true, ComputeContext.SingleThread);
        // a4 (.96) is the source → b3; unmerged 𝔸 = [0, 2] ascending; then 𝔹 = [1, merged 3+4]
        Assert.Equal(4, m.Tokens);
        Assert.Equal([1f, 10, 3, 30, 2, 20, 4.5f, 45], m.X);
        Assert.Equal([1f, 1, 1, 2], m.Sizes);
        Assert.Equal([0, 2, 1, 3, 3], m.Destination);
        Assert.Equal([1f, 1, 1, 0.5f, 0.5f], m.Coefficient);
    }

    [Fact]
    public void MergeIsSizeWeighted()
    {
        float[] sizes = [1, 1, 1, 3, 1];
        var m = ToMe.Merge(X, 5, 2, Metric, 2, sizes, r: 1, protectCls: true, sizeWeighted: true, ComputeContext.SingleThread);
        // (3·x3 + 1·x4)/4 = (3·4 + 5)/4 = 4.25
        Assert.Equal([4.25f, 42.5f], m.X[6..]);
        Assert.Equal(4f, m.Sizes[3]);
        Assert.Equal([1f, 1, 1, 0.75f, 0.25f], m.Coefficient);
        // llmc's variant ignores sizes: plain mean, sizes stay 1
        var plain = ToMe.Merge(X, 5, 2, Metric, 2, sizes, r: 1, protectCls: true, sizeWeighted: false, ComputeContext.SingleThread);
        Assert.Equal([4.5f, 45], plain.X[6..]);
        Assert.Equal([1f, 1, 1, 1], plain.Sizes);
    }

    [Fact]
    public void RIsCappedAtHalfTheUnprotectedTokens()
    {
        var m = ToMe.Merge(X, 5, 2, Metric, 2, Ones, r: 5, protectCls: true, sizeWeighted: true, ComputeContext.SingleThread);
        // r_eff = ⌊(5 − 1)/2⌋ = 2: a4 → b3, a2 → b1; only CLS stays in 𝔸
        Assert.Equal(3, m.Tokens);
        Assert.Equal([1f, 10, 2.5f, 25, 4.5f, 45], m.X);
        var none = ToMe.Merge(X, 5, 2, Metric, 2, Ones, r: 0, protectCls: true, sizeWeighted: true, ComputeContext.SingleThread);
        Assert.Equal(X, none.X);
    }

    [Fact]
    public void WithoutAClassTokenUnmergedStayInDescendingScoreOrder()
    {
        // CLS now competes: a0 = (1,0) matches b1 exactly (1.0) and is the source; the unmerged
        // 𝔸 tokens keep the argsort order a4 (.96), a2 (.8) instead of being re-sorted.
        var m = ToMe.Merge(X, 5, 2, Metric, 2, Ones, r: 1, protectCls: false, sizeWeighted: true, ComputeContext.SingleThread);
        Assert.Equal([5f, 50, 3, 30, 1.5f, 15, 4, 40], m.X);
        Assert.Equal([2, 2, 1, 3, 0], m.Destination);
    }

    [Fact]
    public void TrackerComposesSourcesAcrossLayers()
    {
        var tracker = new ToMeTracker(5);
        var x1 = tracker.Merge(X, 2, Metric, 2, r: 1, ComputeContext.SingleThread);
        Assert.Equal([1f, 1, 1, 2], tracker.Sizes);
        Assert.Equal([0f, 0, 0, MathF.Log(2)], tracker.AttentionBias());
        // layer 2 on the new order [x0, x2, x1, m34]: 𝔸 = {x0, x1}, 𝔹 = {x2, m34}; metric sends x1 → m34
        float[] metric2 = [1, 0, 1, 0, 0, 1, 0, 1];
        var x2 = tracker.Merge(x1, 2, metric2, 2, r: 1, ComputeContext.SingleThread);
        Assert.Equal(3, tracker.Tokens);
        Assert.Equal([1f, 1, 3], tracker.Sizes);
        // (1·x1 + 2·m34)/3 = (2 + 9)/3
        Assert.Equal(11f / 3, x2[4], 5);
        var prov = tracker.PatchProvenance(); // CLS dropped, patch = sequence position − 1
        Assert.Equal(2, prov.Length);
        Assert.Equal([1], prov[0].Patches);
        Assert.Equal([0, 2, 3], prov[1].Patches);
        Assert.Equal(1f / 3, prov[1].Weights[0], 6);
        Assert.Equal(1f / 3, prov[1].Weights[1], 6);
        Assert.Equal(1f / 3, prov[1].Weights[2], 6);
    }

    [Fact]
    public void ScheduleFormulas()
    {
        Assert.All(ToMe.ParseR(23, 16), r => Assert.Equal(16, r));
        Assert.Equal(576 - 208, ToMe.ParseR(23, 16).Sum()); // constant r = 16 leaves 208 patches
        Assert.Equal([8, 16, 24], ToMe.ParseR(3, 16, 0.5)); // m = 8, M = 24
        Assert.Equal([2, 3, 0, 0], ToMe.ParseR(4, [2, 3]));
        foreach (var (budget, high, cut) in new[] { (192, 17, 16), (128, 20, 11), (64, 23, 6) })
        {
            var s = ToMe.BudgetSchedule(576, budget, 23);
            Assert.Equal(576 - budget, s.Sum());
            for (int l = 0; l < 23; l++) Assert.Equal(l < cut ? high : high - 1, s[l]);
        }
        Assert.Equal(ToMe.BudgetSchedule(576, 192, 23), ((ToMeReducer)MethodCatalog.ParseVision("tome:keep=192")).Schedule(23, 576));
        Assert.Throws<MethodSpecException>(() => ((ToMeReducer)MethodCatalog.ParseVision("tome:keep=600")).Schedule(23, 576));
    }

    [Fact]
    public void ReducerPassesTheTowersMergedTokensWithProvenance()
    {
        var tracker = new ToMeTracker(5);
        var x1 = tracker.Merge(X, 2, Metric, 2, r: 1, ComputeContext.SingleThread);
        var prov = tracker.PatchProvenance();
        var input = new ReductionInput { Features = x1[2..], GridHeight = 2, GridWidth = 2, Channels = 2, MergedTokenSources = prov };
        var r = MethodCatalog.ParseVision("tome:r=1").Reduce(input, ComputeContext.SingleThread);
        Assert.Equal(3, r.TokenCount);
        Assert.Equal([1f, 1, 0.5f, 0.5f], r.PositionGrid(PositionGridMode.Weight));
        var missing = new ReductionInput { Features = x1[2..], GridHeight = 2, GridWidth = 2, Channels = 2 };
        Assert.Contains("MergedTokenSources", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("tome:r=1").Reduce(missing, ComputeContext.SingleThread)).Message);
    }
}
