using TokenSieve.Numerics;
using TokenSieve.Reduction;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Reduction;

public sealed class ReductionSpecTests
{
    [Theory]
    [InlineData("none", typeof(NoReduction), "none")]
    [InlineData("prumerge", typeof(PruMergeReducer), "prumerge")]
    [InlineData("prumerge+", typeof(PruMergeReducer), "prumerge+")]
    [InlineData("prumerge:ratio=0.125", typeof(PruMergeReducer), "prumerge:ratio=0.125")]
    [InlineData("prumerge:keep=64", typeof(PruMergeReducer), "prumerge:keep=64")]
    [InlineData("PruMerge:keep=64,attn=heads,weights=normalised", typeof(PruMergeReducer), "prumerge:keep=64,attn=heads,weights=normalised")]
    [InlineData("prumerge+:spatial=grid:onfail=error", typeof(PruMergeReducer), "prumerge+:spatial=grid,onfail=error")]
    [InlineData("prumerge+:attn=feature", typeof(PruMergeReducer), "prumerge+:attn=feature")]
    [InlineData("random:64:seed=1", typeof(RandomSelectionReducer), "random:64:seed=1")]
    [InlineData("random:64,seed=1", typeof(RandomSelectionReducer), "random:64:seed=1")]
    [InlineData("random:64", typeof(RandomSelectionReducer), "random:64")]
    [InlineData("pool:144", typeof(PoolingReducer), "pool:144")]
    [InlineData("pool:144,stage=post", typeof(PoolingReducer), "pool:144")]
    [InlineData("pool:144,stage=pre", typeof(PoolingReducer), "pool:144,stage=pre")]
    [InlineData("fastervlm:64", typeof(FasterVlmReducer), "fastervlm:64")]
    [InlineData("visionzip:54+10", typeof(VisionZipReducer), "visionzip:54+10")]
    [InlineData("divprune:64", typeof(DivPruneReducer), "divprune:64")]
    [InlineData("divprune:ratio=0.098", typeof(DivPruneReducer), "divprune:ratio=0.098")]
    [InlineData("tome:r=16", typeof(ToMeReducer), "tome:r=16")]
    [InlineData("tome:keep=192,variant=llmc", typeof(ToMeReducer), "tome:keep=192,variant=llmc")]
    [InlineData(" tome:r=8:inflection=0.5 ", typeof(ToMeReducer), "tome:r=8,inflection=0.5")]
    public void ParsesDocumentedSpellings(string spec, Type type, string canonical)
    {
        var reducer = MethodCatalog.ParseVision(spec);
        Assert.IsType(type, reducer);
        Assert.Equal(canonical, reducer.Name);
        Assert.Equal(canonical, MethodCatalog.ParseVision(reducer.Name).Name); // canonical names round-trip
    }

    [Theory]
    [InlineData("", "empty spec")]
    [InlineData("fastv:64", "unknown method 'fastv'")]
    [InlineData("random", "needs a budget")]
    [InlineData("random:0", "at least 1")]
    [InlineData("random:-3", "at least 1")]
    [InlineData("random:sixty", "'sixty' is not a whole number")]
    [InlineData("random:64:seed=x", "seed 'x'")]
    [InlineData("random:64:colour=red", "unknown option 'colour'")]
    [InlineData("random:64:12", "unexpected '12'")]
    [InlineData("random:seed=1:64", "budget must come before")]
    [InlineData("pool:144,stage=middle", "stage='middle' is not one of post, pre")]
    [InlineData("pool:144,,stage=pre", "empty item")]
    [InlineData("fastervlm:1.5", "not a whole number")]
    [InlineData("prumerge:64", "takes no budget")]
    [InlineData("prumerge:ratio=0", "ratio must be in (0, 1]")]
    [InlineData("prumerge:ratio=1.5", "ratio must be in (0, 1]")]
    [InlineData("prumerge:ratio=abc", "ratio 'abc' is not a number")]
    [InlineData("prumerge:ratio=NaN", "is not a number")]
    [InlineData("prumerge:keep=0", "keep must be at least 1")]
    [InlineData("prumerge:ratio=0.1,keep=5", "not both")]
    [InlineData("prumerge:spatial=grid", "unknown option 'spatial'")]
    [InlineData("prumerge+:ratio=0.125", "non-adaptive PruMerge+")]
    [InlineData("prumerge+:keep=64", "non-adaptive PruMerge+")]
    [InlineData("prumerge:attn=cls", "attn='cls' is not one of")]
    [InlineData("prumerge:keep=5,keep=6", "given twice")]
    [InlineData("visionzip:54", "not D+C")]
    [InlineData("visionzip:0+10", "at least 1")]
    [InlineData("visionzip:54+0", "at least 1")]
    [InlineData("visionzip:54+x", "'x' is not a whole number")]
    [InlineData("divprune:ratio=0", "ratio must be in (0, 1]")]
    [InlineData("tome", "exactly one of r=R")]
    [InlineData("tome:r=16,keep=64", "exactly one of")]
    [InlineData("tome:r=0", "at least 1")]
    [InlineData("tome:16", "tome takes r=R or keep=B")]
    [InlineData("tome:r=4,variant=fast", "variant='fast'")]
    public void RejectsBadSpecsNamingTheProblem(string spec, string message)
    {
        var e = Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseVision(spec));
        Assert.Contains(message, e.Message);
        Assert.Equal(spec, e.Spec);
    }

    [Theory]
    [InlineData("random:577")]
    [InlineData("pool:600,stage=pre")]
    [InlineData("fastervlm:1000")]
    [InlineData("divprune:577")]
    [InlineData("visionzip:500+100")]
    public void BudgetLargerThanThePatchCountIsASpecError(string spec)
    {
        var input = TestInputs.Full(24, 24, 8, heads: 2, seed: 1);
        var e = Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseVision(spec).Reduce(input, ComputeContext.SingleThread));
        Assert.Contains(spec, e.Message);
        Assert.Contains("576", e.Message);
    }

    [Fact]
    public void HelpTextListsEveryMethodAndOption()
    {
        foreach (var word in new[] { "none", "prumerge", "prumerge+", "ratio=", "keep=", "attn=", "weights=", "spatial=", "onfail=", "random:K", "seed=", "pool:K", "stage=", "fastervlm:K", "visionzip:D+C", "divprune:K", "tome:r=R", "inflection=", "variant=" })
            Assert.Contains(word, MethodCatalog.HelpText(MethodStage.Vision, MethodStage.PreLlm));
    }

    [Fact]
    public void NeedsTellTheTowerWhatToCompute()
    {
        Assert.Equal(VisionNeeds.LastLayerQK, MethodCatalog.ParseVision("prumerge+").Needs);
        Assert.Equal(VisionNeeds.FeatureLayerClsAttention, MethodCatalog.ParseVision("fastervlm:64").Needs);
        Assert.Equal(VisionNeeds.FeatureLayerClsAttention | VisionNeeds.FeatureLayerKeys | VisionNeeds.ClsHiddenState, MethodCatalog.ParseVision("visionzip:54+10").Needs);
        Assert.Equal(VisionNeeds.Projector, MethodCatalog.ParseVision("divprune:64").Needs);
        Assert.Equal(VisionNeeds.Projector, MethodCatalog.ParseVision("pool:144").Needs);
        Assert.Equal(VisionNeeds.None, MethodCatalog.ParseVision("pool:144,stage=pre").Needs);
        Assert.Equal(VisionNeeds.None, MethodCatalog.ParseVision("random:64").Needs);
        Assert.Equal(VisionNeeds.TokenMerging, MethodCatalog.ParseVision("tome:r=16").Needs);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("random:10")]
    [InlineData("pool:16,stage=pre")]
    [InlineData("pool:16")]
    [InlineData("fastervlm:10")]
    [InlineData("visionzip:8+4")]
    [InlineData("divprune:10")]
    public void NonFiniteInputIsNamed(string spec)
    {
        var input = TestInputs.Full(8, 8, 8, heads: 2, seed: 2);
        input.Features[77] = float.NaN;
        var e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision(spec).Reduce(input, ComputeContext.SingleThread));
        Assert.Contains("'Features'", e.Message);
        Assert.Contains("index 77", e.Message);
    }

    [Fact]
    public void MissingTapsAndShapeMismatchesAreNamed()
    {
        var full = TestInputs.Full(8, 8, 8, heads: 2, seed: 3);
        var noAttn = new ReductionInput { Features = full.Features, GridHeight = 8, GridWidth = 8, Channels = 8, Heads = 2 };
        Assert.Contains("'FeatureLayerClsAttention'", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("fastervlm:4").Reduce(noAttn, ComputeContext.SingleThread)).Message);
        Assert.Contains("'Project'", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("divprune:4").Reduce(noAttn, ComputeContext.SingleThread)).Message);
        var wrongGrid = new ReductionInput { Features = full.Features, GridHeight = 9, GridWidth = 8, Channels = 8 };
        var e = Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("none").Reduce(wrongGrid, ComputeContext.SingleThread));
        Assert.Contains("'Features'", e.Message);
        Assert.Contains("[72,8]", e.Message);
        var badHeads = new ReductionInput { Features = full.Features, GridHeight = 8, GridWidth = 8, Channels = 8, Heads = 3, FeatureLayerClsAttention = new float[3 * 65], FeatureLayerKeys = full.FeatureLayerKeys, ClsHiddenState = full.ClsHiddenState };
        Assert.Contains("not divisible by Heads 3", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("visionzip:4+2").Reduce(badHeads, ComputeContext.SingleThread)).Message);
        Assert.Contains("not divisible by Heads 3", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("prumerge:attn=heads").Reduce(new ReductionInput { Features = full.Features, GridHeight = 8, GridWidth = 8, Channels = 8, Heads = 3, LastLayerQueries = full.LastLayerQueries, LastLayerKeys = full.LastLayerKeys }, ComputeContext.SingleThread)).Message);
        var badProjector = new ReductionInput { Features = full.Features, GridHeight = 8, GridWidth = 8, Channels = 8, Project = (f, rows) => new float[rows * 3 + 1] };
        Assert.Contains("projector output", Assert.Throws<InvalidInputException>(() => MethodCatalog.ParseVision("divprune:4").Reduce(badProjector, ComputeContext.SingleThread)).Message);
    }
}

internal static class TestInputs
{
    /// <summary>Random input with every tap filled; the projector is y = 2x (per token).</summary>
    public static ReductionInput Full(int gh, int gw, int c, int heads, int seed)
    {
        int n = gh * gw;
        var rng = new Random(seed);
        float[] Rand(int len) { var r = new float[len]; for (int i = 0; i < len; i++) r[i] = (float)(rng.NextDouble() * 2 - 1); return r; }
        var cls = new float[heads * (n + 1)];
        for (int h = 0; h < heads; h++)
        {
            var row = Rand(n + 1);
            RowKernels.SoftmaxInPlace(row);
            row.CopyTo(cls, h * (n + 1));
        }
        return new ReductionInput
        {
            Features = Rand(n * c),
            GridHeight = gh,
            GridWidth = gw,
            Channels = c,
            Heads = heads,
            LastLayerQueries = Rand((n + 1) * c),
            LastLayerKeys = Rand((n + 1) * c),
            FeatureLayerClsAttention = cls,
            FeatureLayerKeys = Rand((n + 1) * c),
            ClsHiddenState = Rand(c),
            Project = (f, rows) => f.Select(v => 2 * v).ToArray(),
        };
    }
}
