using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Methods;

/// <summary>Every catalog method on Qwen2-VL (docs/models/qwen2-vl.md): it runs as it is, runs with its named
/// surrogate, or is refused with a <see cref="MethodNotApplicableException"/>. A new catalog method fails
/// <see cref="Every_method_has_a_decision"/> until it gets a row here and in the doc. On the tiny fixture
/// with image_a.png (15 merged tokens on a 3x5 merged grid, 60 patches) and its 2-layer decoder.</summary>
public sealed class Qwen2VlMethodsTests
{
    public enum Outcome { Runs, Surrogate, Refused }

    /// <summary>method → (spec on the tiny model, outcome, visual tokens entering the decoder when it runs).</summary>
    static readonly Dictionary<string, (string Spec, Outcome Outcome, int Visual)> Table = new()
    {
        ["none"] = ("none", Outcome.Runs, 15),
        ["random"] = ("random:6", Outcome.Runs, 6),
        ["pool"] = ("pool:6", Outcome.Runs, 6),
        ["divprune"] = ("divprune:6", Outcome.Runs, 6),
        ["fastervlm"] = ("fastervlm:6", Outcome.Surrogate, 6),
        ["prumerge"] = ("prumerge", Outcome.Refused, 0),
        ["prumerge+"] = ("prumerge+", Outcome.Refused, 0),
        ["visionzip"] = ("visionzip:5+1", Outcome.Refused, 0),
        ["tome"] = ("tome:keep=6", Outcome.Refused, 0),
        ["fastv"] = ("fastv:k=1,keep=6", Outcome.Runs, 15),
        ["alpha"] = ("alpha:a=0.5,k=1,keep=6", Outcome.Runs, 15),
        ["pdrop"] = ("pdrop:layers=1,ratios=0.4", Outcome.Runs, 15),
        ["sparsevlm"] = ("sparsevlm:layers=0,budgets=6", Outcome.Runs, 15),
        ["dart"] = ("dart:k=1,keep=8,pv=1,pt=1", Outcome.Runs, 15),
    };

    public static TheoryData<string> Methods => new(Table.Keys);

    [Fact]
    public void Every_method_has_a_decision()
    {
        Assert.Equal(MethodCatalog.Entries.Select(e => e.Name).Order(), Table.Keys.Order());
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Method_runs_with_its_surrogate_or_is_refused(string method)
    {
        var (spec, outcome, visual) = Table[method];
        using var model = Qwen2VlModel.Load(Qwen2VlTiny.Fixture);
        var pipeline = new Qwen2VlPipeline(model, ComputeContext.SingleThread);
        var image = pipeline.Prepare(ImageDecoder.Load(Path.Combine(Qwen2VlTiny.Fixture, "image_a.png")));
        int[] ids = [301, 5, 309, 312, 310, 42, 99, 7, 88, 21, 302, 5, 301, 64, 5];
        var plan = MethodPlan.Parse(spec);
        var options = new RunOptions { Reducer = plan.Reducer, Pruner = plan.Pruner, Seed = 3, Generation = new GenerationOptions { MaxNewTokens = 2 } };
        if (outcome == Outcome.Refused)
        {
            var e = Assert.Throws<MethodNotApplicableException>(() => pipeline.Run([image], ids, options));
            Assert.Contains("Qwen2-VL", e.Message);
            return;
        }
        var r = pipeline.Run([image], ids, options).Report;
        Assert.Equal(visual, r.VisualTokens);
        Assert.Equal(15, r.VisualTokensBefore);
        Assert.Equal(60, r.PatchesBeforeMerge);
        Assert.Equal(ids.Length - 1 + visual, r.PromptTokens);
        Assert.Equal(outcome == Outcome.Surrogate, r.Notes.Any(n => n.Contains("surrogate")));
        if (plan.Pruner is not null) Assert.True(r.TokensPerLayer[1] < r.TokensPerLayer[0], $"{spec} pruned nothing: {string.Join(",", r.TokensPerLayer)}");
    }

    /// <summary>SparseVLM renumbers positions on LLaMA; on M-RoPE the original 3-D positions are kept (a note
    /// says so) and each recycled token sits at its cluster centre's position.</summary>
    [Fact]
    public void Sparsevlm_keeps_mrope_positions_and_places_recycled_tokens_at_their_centres()
    {
        using var model = Qwen2VlModel.Load(Qwen2VlTiny.Fixture);
        var pipeline = new Qwen2VlPipeline(model, ComputeContext.SingleThread);
        var image = pipeline.Prepare(ImageDecoder.Load(Path.Combine(Qwen2VlTiny.Fixture, "image_a.png")));
        int[] ids = [301, 5, 309, 312, 310, 42, 99, 7, 88, 21, 302, 5, 301, 64, 5];
        var plan = MethodPlan.Parse("sparsevlm:layers=0,budgets=6");
        var r = pipeline.Run([image], ids, new RunOptions { Pruner = plan.Pruner, Generation = new GenerationOptions { MaxNewTokens = 3 } });
        Assert.Contains(r.Report.Notes, n => n.Contains("original M-RoPE positions kept"));
        Assert.Contains(-1, r.Report.KeptPositions);  // a merged (recycled) token reached the last layer
        Assert.Equal(3, r.Tokens.Length);
    }
}
