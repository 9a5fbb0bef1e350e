using TokenSieve.Evaluation;
using TokenSieve.Models;
using TokenSieve.Reduction;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

[Collection("console")]
public sealed class PositionStatisticsTests
{
    static PredictionRecord Record(string spec, params TokenProvenance?[] tokens) => new()
    {
        QuestionId = Guid.NewGuid().ToString("N"), Text = "yes", Task = "t", Spec = spec, Method = spec.Split(':')[0], Flops = 1e9, PrefillMs = 10,
        Kept = new KeptSources(new PatchGrid(4, 4), tokens),
    };

    [Fact]
    public void Mass_fractions_and_bias_match_hand_computed_values()
    {
        // Two answers on a 4x4 grid: one keeps patches 12 and 13 (bottom row), one keeps 0 (top-left).
        // Mean mass: p12 = p13 = 0.5, p0 = 0.5. Mass-weighted mean row = (3·1 + 0·0.5)/1.5 = 2 → bias (2 − 1.5)/1.5 = +1/3.
        // Mean column = (0·0.5 + 1·0.5 + 0·0.5)/1.5 = 1/3 → bias (1/3 − 1.5)/1.5 = −7/9.
        var analysis = PositionAnalysis.From([Record("a", TokenProvenance.Single(12), TokenProvenance.Single(13)), Record("a", TokenProvenance.Single(0))]);
        var p = Assert.Single(analysis.Profiles);
        Assert.Equal(0.5, p.Heatmap[12], 12);
        Assert.Equal(0.5, p.Heatmap[0], 12);
        Assert.Equal(1.0 / 3, p.RowBias, 12);
        Assert.Equal(-7.0 / 9, p.ColumnBias, 12);
        Assert.Equal([0.125, 0, 0, 0.25], p.RowFraction.Select(x => Math.Round(x, 12)));
        Assert.Equal(1.5, p.MeanKeptTokens, 12);
    }

    [Fact]
    public void A_merged_token_spreads_one_unit_over_its_sources_by_weight()
    {
        var analysis = PositionAnalysis.From([Record("m", new TokenProvenance([0, 1, 4, 5], [3, 1, 0, 0]), null)]);
        var p = Assert.Single(analysis.Profiles);
        Assert.Equal(0.75, p.Heatmap[0], 12);
        Assert.Equal(0.25, p.Heatmap[1], 12);
        Assert.Equal(1, p.MeanKeptTokens, 12); // the null (a decoder-merged token) has no sources
    }

    [Fact]
    public void Rank_correlations_match_hand_computed_values()
    {
        Assert.Equal(1, RankCorrelation.Spearman([1, 2, 3], [10, 20, 30]), 12);
        Assert.Equal(-1, RankCorrelation.Spearman([1, 2, 3], [3, 2, 1]), 12);
        // x = 1..4, y = 1, 3, 2, 4: d² = 0 + 1 + 1 + 0 = 2 → ρ = 1 − 6·2/(4·15) = 0.8; τ: 5 concordant, 1 discordant of 6 → 2/3
        Assert.Equal(0.8, RankCorrelation.Spearman([1, 2, 3, 4], [1, 3, 2, 4]), 12);
        Assert.Equal(2.0 / 3, RankCorrelation.KendallTauB([1, 2, 3, 4], [1, 3, 2, 4]), 12);
    }

    [Fact]
    public void Analyze_writes_tables_json_and_heatmaps_from_a_bench_run()
    {
        using var dir = new TempDir();
        string results = dir.File("r.jsonl");
        var (code, _, err) = CliCapture.Run("bench", "--suite", "lab", "--per-suite", "2", "--families", "counting", "--methods", "none;pool;fastv:k=2,keep={budget};fastervlm", "--budgets", "16", "--out", results);
        Assert.True(code == 0, err);
        (code, var output, err) = CliCapture.Run("analyze", "--results", results, "--out", dir.File("an"));
        Assert.True(code == 0, err);
        Assert.Contains("| lab-counting | `fastv:k=2,keep=16` |", output);
        Assert.True(File.Exists(dir.File("an/analysis.json")));
        Assert.True(new FileInfo(dir.File("an/kept-lab-counting.png")).Length > 1000);
        Assert.True(new FileInfo(dir.File("an/ranking-lab-counting.png")).Length > 1000); // FastV and FasterVLM rank patches
    }
}
