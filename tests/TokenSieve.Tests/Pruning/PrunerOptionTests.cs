using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pruning;

/// <summary>The non-default options: each runs end to end and keeps the counts it promises.</summary>
public sealed class PrunerOptionTests(PruningModels models) : IClassFixture<PruningModels>
{
    PrefillResult Prefill(string spec, out SplicedSequence seq)
    {
        using var model = models.Random.Load();
        var (ids, visual) = RandomLlava.Prompt(model, before: 5, visual: 64, after: 10, seed: 7);
        var session = new InferenceSession(model, new ComputeContext(2));
        seq = session.Splice(ids, 5, visual, 64);
        return session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder(spec));
    }

    static int Visual(PrefillResult r, SplicedSequence seq) =>
        r.KeptOriginalIndices.Count(i => i < 0 || (i >= seq.ImageStart && i < seq.ImageStart + seq.ImageTokens));

    [Theory]
    [InlineData("dart:k=2,keep=24", 28)]
    [InlineData("dart:k=2,keep=24,count=exact", 24)]
    [InlineData("dart:k=2,keep=26,count=exact,order=ascending", 26)]
    [InlineData("dart:k=2,keep=24,order=topk", 28)]
    [InlineData("dart:k=2,keep=24,pivot=knorm-min", 28)]
    [InlineData("dart:k=2,keep=24,pivot=random,seed=3", 28)]
    [InlineData("dart:k=2,keep=16,pv=2,pt=6", 18)]
    [InlineData("dart:k=2,ratio=0.75", 4 + 16)]
    [InlineData("fastv:k=2,ratio=0.75", 16)]
    [InlineData("sparsevlm:layers=2,budgets=20,recycle=false", 20)]
    [InlineData("pdrop:layers=3/5,ratios=0.4/0.1", 6)]
    public void Options_keep_the_promised_visual_count(string spec, int visual)
    {
        var r = Prefill(spec, out var seq);
        Assert.Equal(visual, Visual(r, seq));
    }

    [Fact]
    public void Dart_pivot_order_changes_which_tokens_are_claimed()
    {
        var set = Prefill("dart:k=2,keep=24", out _).KeptOriginalIndices;
        var ascending = Prefill("dart:k=2,keep=24,order=ascending", out _).KeptOriginalIndices;
        var minNorm = Prefill("dart:k=2,keep=24,pivot=knorm-min", out _).KeptOriginalIndices;
        Assert.NotEqual(set, minNorm);
        Assert.Equal(set.Length, ascending.Length);
    }

    [Fact]
    public void FastV_start_override_reproduces_the_sys_length_off_by_one()
    {
        // Official scripts: SYS_LENGTH = image start + 1. The first image token is then always kept as
        // "system", and the first post-image text token enters the ranking window.
        using var golden = new Golden(TestData.LlavaTiny);
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = golden.Ints("input_ids");
        var seq = session.Splice(ids, 3, golden.Tensor("projector.output"), 16);
        var r = session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder("fastv:k=1,keep=6,start=4"));
        Assert.Contains(3, r.KeptOriginalIndices);
        Assert.Equal(seq.Length - 16 + 6, r.FinalLength);
        Assert.Equal(Enumerable.Range(0, 4), r.KeptOriginalIndices[..4]);
    }
}
