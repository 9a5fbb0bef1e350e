using TokenSieve.Evaluation;

namespace TokenSieve.Tests.Evaluation;

/// <summary>The statistics against cases computed by hand.</summary>
public sealed class PairedStatisticsTests
{
    static EvalDataset Exact(int n) => new()
    {
        Task = "t", Kind = TaskKind.ExactMatch,
        Items = Enumerable.Range(0, n).Select(i => new EvalItem { Task = "t", QuestionId = $"q{i}", Question = "q", Prompt = "q", Answers = ["a"] }).ToList(),
    };

    static Dictionary<string, string> Answers(int n, Func<int, bool> correct) =>
        Enumerable.Range(0, n).ToDictionary(i => $"q{i}", i => correct(i) ? "a" : "b");

    [Theory]
    // p = 2·Σ_{i ≤ min(b,c)} C(b+c, i) / 2^(b+c): b=8, c=2 → 2·(1 + 10 + 45)/1024 = 0.109375
    [InlineData(8, 2, 0.109375)]
    [InlineData(2, 8, 0.109375)]
    // b=5, c=0 → 2/32 = 0.0625; b=6, c=0 → 2/64 = 0.03125
    [InlineData(5, 0, 0.0625)]
    [InlineData(6, 0, 0.03125)]
    // b=c: the tail holds at least half the mass → p = 1
    [InlineData(3, 3, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void McNemar_exact_matches_the_binomial_tail(int onlyA, int onlyB, double p) =>
        Assert.Equal(p, PairedStatistics.McNemarExact(onlyA, onlyB), 12);

    [Fact]
    public void Comparison_counts_discordant_items_and_its_interval_brackets_the_difference()
    {
        // A right on 0..17, B right on 0..9 and 18, 19: A-only 8 (10..17), B-only 2 (18, 19) → McNemar 0.109375
        var ds = Exact(20);
        var a = Answers(20, i => i < 18);
        var b = Answers(20, i => i < 10 || i >= 18);
        var c = PairedStatistics.Compare(ds, "A", a, "B", b);
        Assert.Equal(("mcnemar", 20), (c.Test, c.Units));
        Assert.Equal(90 - 60, c.Difference, 9);
        Assert.Equal(0.109375, c.PValue, 12);
        Assert.True(c.Ci95.Low <= 30 && c.Ci95.High >= 30 && c.Ci95.Low > -5 && c.Ci95.High <= 60, $"interval {c.Ci95}");
        Assert.Equal(c, PairedStatistics.Compare(ds, "A", a, "B", b)); // fixed seed: the same numbers every time
    }

    [Fact]
    public void Estimates_of_certain_scores_have_no_width()
    {
        var ds = Exact(10);
        var all = PairedStatistics.Estimate(ds, Answers(10, _ => true));
        Assert.Equal((100, 100, 100), (all.Value, all.Ci95.Low, all.Ci95.High));
        var half = PairedStatistics.Estimate(ds, Answers(10, i => i < 5));
        Assert.Equal(50, half.Value, 9);
        // binomial sd of a mean of 10 coin flips is 15.8 points: the 95 % interval is about ±31
        Assert.InRange(half.Ci95.Low, 10, 30);
        Assert.InRange(half.Ci95.High, 70, 90);
    }

    [Fact]
    public void Exact_permutation_test_on_pope_f1_enumerates_every_swap()
    {
        // POPE (F1) uses the permutation test; with 3 items all 8 swaps are enumerated. Truth yes, yes, no.
        var ds = new EvalDataset
        {
            Task = "pope", Kind = TaskKind.Pope,
            Items = new[] { "yes", "yes", "no" }.Select((ans, i) => new EvalItem { Task = "pope", QuestionId = $"q{i}", Question = "q", Prompt = "q", Answers = [ans], Category = "random" }).ToList(),
        };
        var a = new Dictionary<string, string> { ["q0"] = "yes", ["q1"] = "yes", ["q2"] = "no" };   // F1 = 1
        var b = new Dictionary<string, string> { ["q0"] = "no", ["q1"] = "no", ["q2"] = "yes" };    // F1 = 0
        var c = PairedStatistics.Compare(ds, "A", a, "B", b);
        Assert.Equal("permutation", c.Test);
        Assert.Equal(100, c.Difference, 9);
        // |d*| = 100 only when no unit or every unit is swapped (d* = ±100): 2 of 8 patterns
        Assert.Equal(0.25, c.PValue, 12);
    }
}
