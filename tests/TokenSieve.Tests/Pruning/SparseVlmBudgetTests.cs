using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Methods;

namespace TokenSieve.Tests.Pruning;

/// <summary>RETAIN_TOKN is the reference's layer-averaged visual count, not the LLM input count
/// (METHODS.md §10): on a 32-layer decoder with 576 visual tokens the per-stage table must give the
/// documented counts after layers 2/6/15 and averages. The counts follow from the budgets and the
/// recycling arithmetic alone, so random weights suffice. Two of the four settings run here to keep the suite fast (each
/// prefill is ~3 s); the table itself is checked in <see cref="PruningSpecTests"/>.</summary>
public sealed class SparseVlmBudgetTests
{
    [Fact]
    public void Budget_table_reproduces_the_reference_counts_on_a_32_layer_model()
    {
        using var random = new RandomLlava(layers: 32, kvHeads: 2, maxPositions: 1024, seed: 99);
        using var model = random.Load();
        var session = new InferenceSession(model, new ComputeContext(2));
        var (ids, visual) = RandomLlava.Prompt(model, before: 35, visual: 576, after: 12, seed: 3);
        var seq = session.Splice(ids, 35, visual, 576);
        int text = seq.Length - 576;
        foreach (var (retain, after, average) in new[] { (192, new[] { 309, 204, 113 }, "192.0"), (128, new[] { 312, 117, 39 }, "128.6") })
        {
            var result = session.Prefill(seq, 0, null, MethodCatalog.ParseDecoder($"sparsevlm:{retain}"));
            var expected = new int[32];
            for (int l = 0; l < 32; l++) expected[l] = text + (l <= 2 ? 576 : l <= 6 ? after[0] : l <= 15 ? after[1] : after[2]);
            Assert.Equal(expected, result.TokensPerLayer);
            Assert.Equal(3, result.Notes.Count);
            Assert.Contains($"layer-averaged (reference convention) {average}", result.Notes[^1]);
        }
    }
}
