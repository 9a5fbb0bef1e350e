using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Tests.Support;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pruning;

public sealed class PruningSpecTests
{
    [Fact]
    public void Design_examples_parse_to_the_documented_settings()
    {
        var fastv = Assert.IsType<FastV>(MethodCatalog.ParseDecoder("fastv:k=2,keep=64"));
        Assert.Equal((2, 64), (fastv.Layer, fastv.Keep!.Value));
        Assert.Equal(PositionPolicy.KeepOriginal, fastv.Positions);
        Assert.Equal([2], fastv.Boundaries);

        var dart = Assert.IsType<Dart>(MethodCatalog.ParseDecoder("dart:k=2,keep=128"));
        Assert.Equal((2, 128, 4, 4), (dart.Layer, dart.MaxTokens!.Value, dart.ImagePivots, dart.TextPivots));
        Assert.Equal((DartPivotRule.MaxKeyNorm, DartPivotOrder.CPythonSet, false), (dart.PivotRule, dart.PivotOrder, dart.ExactCount));

        var sparse = Assert.IsType<SparseVlm>(MethodCatalog.ParseDecoder("sparsevlm:192"));
        Assert.Equal([300, 200, 110], sparse.Budgets);
        Assert.Equal([3, 7, 16], sparse.Boundaries);
        Assert.Equal(PositionPolicy.Renumber, sparse.Positions);

        var pdrop = Assert.IsType<PyramidDrop>(MethodCatalog.ParseDecoder("pdrop:layers=8/16/24,lambda=0.5"));
        Assert.Equal([8, 16, 24], pdrop.Boundaries);
        Assert.Equal([288, 144, 72], Enumerable.Range(0, 3).Select(i => pdrop.CountAfter(i, 576)));
        Assert.Equal(PositionPolicy.Renumber, pdrop.Positions);
    }

    [Theory]
    [InlineData("sparsevlm:128", new[] { 303, 110, 36 })]
    [InlineData("sparsevlm:96", new[] { 238, 48, 26 })]
    [InlineData("sparsevlm:64", new[] { 66, 30, 17 })]
    [InlineData("sparsevlm", new[] { 300, 200, 110 })]
    public void SparseVlm_budget_table(string spec, int[] budgets) =>
        Assert.Equal(budgets, Assert.IsType<SparseVlm>(MethodCatalog.ParseDecoder(spec)).Budgets);

    [Theory]
    [InlineData(128, null, false, 132)]
    [InlineData(64, null, false, 68)]
    [InlineData(192, null, false, 196)]
    [InlineData(null, 0.778, false, 124)]
    [InlineData(null, 0.667, false, 188)]
    [InlineData(null, 0.889, false, 60)]
    [InlineData(128, null, true, 128)]
    public void Dart_keeps_the_reference_counts(int? maxTokens, double? ratio, bool exact, int kept)
    {
        var quotas = Dart.Quotas(8, 4, maxTokens, ratio ?? 0, 576, exact);
        Assert.Equal(kept, 4 + quotas.Sum());
    }

    [Theory]
    [InlineData("fastv:k=2,kep=64", "unknown option 'kep'")]
    [InlineData("fastv:k=two", "not a whole number")]
    [InlineData("fastv:k=0", "out of range")]
    [InlineData("fastv:keep=0", "out of range")]
    [InlineData("fastv:keep=64,ratio=0.5", "either keep or ratio")]
    [InlineData("fastv:variant=mask", "attention key mask")]
    [InlineData("pdrop:layers=16/8", "ascending")]
    [InlineData("pdrop:lambda=1.5", "out of range")]
    [InlineData("pdrop:layers=8/16,ratios=0.5", "2 stage layers but 1 ratios")]
    [InlineData("sparsevlm:100", "not one of")]
    [InlineData("sparsevlm:192,budgets=10/5", "need layers")]
    [InlineData("sparsevlm:x", "not a whole number")]
    [InlineData("dart:pivot=vnorm", "not one of")]
    [InlineData("dart:keep=128,ratio=0.5", "either keep")]
    [InlineData("tome:r=16", "unknown decoder pruning method")]
    [InlineData("fastv:k=2,,keep=3", "empty item")]
    [InlineData("fastv:k=2,k=3", "twice")]
    public void Bad_specs_are_reported_with_the_option_at_fault(string spec, string message)
    {
        var e = Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseDecoder(spec));
        Assert.Contains(message, e.Message);
        Assert.Equal(spec, e.Spec);
    }

    [Fact]
    public void Handles_recognises_only_decoder_methods()
    {
        Assert.True((MethodCatalog.ForSpec("FastV:k=2") is { Stage: MethodStage.Decoder }));
        Assert.True((MethodCatalog.ForSpec("sparsevlm") is { Stage: MethodStage.Decoder }));
        Assert.False((MethodCatalog.ForSpec("prumerge+") is { Stage: MethodStage.Decoder }));
        foreach (var m in MethodCatalog.Entries.Where(e => e.Stage == MethodStage.Decoder).Select(e => e.Name)) Assert.Contains(m, MethodCatalog.HelpText(MethodStage.Decoder));
    }

    [Theory]
    [InlineData("fastv:k=1,keep=17", "more than the 16 visual tokens")]
    [InlineData("fastv:k=2,keep=8", "decoder has 2 layers")]
    [InlineData("pdrop:layers=8/16/24", "decoder has 2 layers")]
    [InlineData("pdrop:layers=1,ratios=0.05", "= 0 visual tokens")]
    [InlineData("sparsevlm:192,layers=0", "1 pruning layers but 3 budgets")]
    [InlineData("sparsevlm:layers=0,budgets=16", "first-stage budget 16")]
    [InlineData("sparsevlm:layers=1,budgets=8", "pruning layers must be 0..0")]
    [InlineData("dart:k=1,keep=128", "more than the 16")]
    public void Budgets_and_layers_are_checked_against_the_model_and_the_image_count(string spec, string message)
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        using var golden = new Golden(TestData.LlavaTiny);
        var session = new InferenceSession(model, ComputeContext.SingleThread);
        int[] ids = golden.Ints("input_ids");
        var seq = session.Splice(ids, InferenceSession.FindImageSlot(ids, model.Config.ImageTokenIndex), golden.Tensor("projector.output"), 16);
        var e = Assert.Throws<MethodSpecException>(() => session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder(spec)));
        Assert.Contains(message, e.Message);
    }
}
