using System.Text.Json;
using TokenSieve.Evaluation;
using TokenSieve.Methods;
using TokenSieve.Pruning;
using TokenSieve.Reduction;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Methods;

[Collection("console")]
public sealed class MethodCatalogTests
{
    [Fact]
    public void Every_row_builds_its_own_examples_on_the_right_side()
    {
        Assert.Equal(MethodCatalog.Entries.Count, MethodCatalog.Entries.Select(e => e.Name).Distinct().Count());
        foreach (var e in MethodCatalog.Entries)
        {
            var examples = new List<string> { e.Name };
            if (e.AtBudget is { } at) examples.Add(at(64));
            foreach (var spec in examples.Where(s => e.Budget != BudgetKind.Budgeted || s != e.Name || e.Name is "sparsevlm"))
            {
                object method = e.Stage == MethodStage.Decoder ? MethodCatalog.ParseDecoder(spec) : MethodCatalog.ParseVision(spec);
                Assert.IsAssignableFrom(e.Stage == MethodStage.Decoder ? typeof(IDecoderPruner) : typeof(IVisualReducer), method);
                Assert.Equal(e, MethodCatalog.ForSpec(spec));
            }
            Assert.False(string.IsNullOrWhiteSpace(e.Summary));
            Assert.False(string.IsNullOrWhiteSpace(e.Needs));
            Assert.False(string.IsNullOrWhiteSpace(e.Reference));
            Assert.Contains(e.Name, MethodCatalog.FullHelpText);
        }
    }

    [Theory]
    [InlineData("fastv:k=2,keep=8", "is a decoder pruner")]
    [InlineData("nosuch:4", "known: none, prumerge")]
    public void Vision_parser_names_the_side_a_method_belongs_to(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseVision(spec)).Message);

    [Fact]
    public void Decoder_parser_names_the_side_a_method_belongs_to() =>
        Assert.Contains("is a vision-side method", Assert.Throws<MethodSpecException>(() => MethodCatalog.ParseDecoder("pool:4")).Message);

    [Fact]
    public void Budget_templates_come_from_the_catalog()
    {
        Assert.Equal("fastv:k=2,keep=64", MethodCatalog.AtBudget("fastv", 64));
        Assert.Equal("visionzip:54+10", MethodCatalog.AtBudget("visionzip", 64));
        Assert.Equal("dart:k=2,keep=8", MethodCatalog.AtBudget("dart:k=2,keep={budget}", 8));
        Assert.Null(MethodCatalog.AtBudget("prumerge", 64)); // adaptive: runs once
        Assert.Null(MethodCatalog.AtBudget("pdrop", 64)); // preset schedule
        Assert.Null(MethodCatalog.AtBudget("pool:32", 64)); // complete spec
        var specs = MethodSpec.Expand(["none", "prumerge", "pool", "fastv", "dart:k=2,keep={budget}", "pool:8"], [16, 32]).Select(s => s.Spec).ToArray();
        Assert.Equal(["none", "prumerge", "pool:16", "pool:32", "fastv:k=2,keep=16", "fastv:k=2,keep=32", "dart:k=2,keep=16", "dart:k=2,keep=32", "pool:8"], specs);
    }

    [Fact]
    public void Main_specs_leave_out_decoder_methods_on_shallow_decoders()
    {
        Assert.DoesNotContain(MethodCatalog.MainSpecs(16, decoderLayers: 2), s => s.StartsWith("fastv", StringComparison.Ordinal));
        Assert.Contains("fastv:k=2,keep=16", MethodCatalog.MainSpecs(16, decoderLayers: 4));
        Assert.Equal("none", MethodCatalog.MainSpecs(16, 4)[0]);
    }

    [Fact]
    public void Methods_verb_prints_the_catalog_as_a_table_and_as_json()
    {
        var (code, output, _) = CliCapture.Run("methods");
        Assert.Equal(0, code);
        foreach (var e in MethodCatalog.Entries) Assert.Contains(e.Name, output);
        (code, output, _) = CliCapture.Run("methods", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(MethodCatalog.Entries.Count, rows.Count);
        Assert.Equal(["vision", "pre-llm", "decoder"], rows.Select(r => r.GetProperty("stage").GetString()!).Distinct().OrderBy(s => s == "decoder").ThenBy(s => s == "pre-llm").ToArray());
        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.GetProperty("budget").GetString())));
    }
}
