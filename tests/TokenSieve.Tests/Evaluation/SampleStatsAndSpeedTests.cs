using TokenSieve.Evaluation;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

public sealed class SampleStatsAndSpeedTests
{
    [Fact]
    public void Medians_and_quantiles_match_hand_computed_values()
    {
        Assert.Equal(3, SampleStats.Median([5, 1, 3]));
        Assert.Equal(2.5, SampleStats.Median([4, 1, 3, 2]));
        Assert.True(double.IsNaN(SampleStats.Median([])));
        // numpy.quantile([1, 2, 3, 4, 10], 0.9) = 4 + 0.6·(10 − 4) = 7.6
        Assert.Equal(7.6, SampleStats.Quantile([10, 1, 3, 2, 4], 0.9), 12);
        Assert.Equal(1, SampleStats.Quantile([3, 1, 2], 0));
        Assert.Equal("2.0 (1.0–9.0)", SampleStats.MedianWithRange([9, 1, 2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleStats.Quantile([1], 1.5));
    }

    [Fact]
    public void Item_scores_follow_the_task_scorers()
    {
        var item = new EvalItem { Task = "t", QuestionId = "q", Prompt = "p", Question = "is there a cat?", Answers = ["yes"] };
        Assert.Equal(1, Scoring.ItemScore(TaskKind.Pope, item, "Yes, there is."));
        Assert.Equal(0, Scoring.ItemScore(TaskKind.Pope, item, "No."));
        var shortAnswer = item with { Answers = ["3"] };
        Assert.Equal(1, Scoring.ItemScore(TaskKind.ExactMatch, shortAnswer, "3."));
        Assert.Throws<ArgumentException>(() => Scoring.ItemScore(TaskKind.Mme, item, "yes"));
    }

    [Fact]
    public void Speed_harness_measures_every_configuration_against_none()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var report = SpeedHarness.Run(model, ComputeContext.SingleThread, new SpeedOptions
        {
            Methods = ["pool", "fastv:k=1,keep=4"], Budgets = [4, 8], Runs = 2, TextTokens = 6, DecodeTokens = 2,
        });
        Assert.Equal(["none", "pool:4", "pool:8", "fastv:k=1,keep=4"], report.Rows.Select(r => r.Spec));
        Assert.All(report.Rows, r => Assert.Equal(2, r.Runs.Count));
        Assert.Equal([16, 4, 8, 16], report.Rows.Select(r => r.VisualTokens));
        Assert.True(report.Rows[1].PrefillFlops < report.Rows[0].PrefillFlops);
        var md = report.ToMarkdown();
        Assert.Contains("| `pool:4` | 4 |", md);
        Assert.Equal(report.Rows.Count + 1, report.ToCsv().Trim().Split('\n').Length);
    }

    [Fact]
    public void Speed_harness_measures_fused_and_eager_attention_side_by_side()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var report = SpeedHarness.Run(model, ComputeContext.SingleThread, new SpeedOptions
        {
            Methods = ["fastv:k=1,keep=4"], Budgets = [4], Runs = 1, TextTokens = 6, DecodeTokens = 1, AttentionModes = [AttentionMode.Fused, AttentionMode.Eager],
        });
        Assert.Equal([("none", AttentionMode.Fused), ("none", AttentionMode.Eager), ("fastv:k=1,keep=4", AttentionMode.Fused), ("fastv:k=1,keep=4", AttentionMode.Eager)],
            report.Rows.Select(r => (r.Spec, r.Attention)));
        Assert.All(report.Rows, r => Assert.Equal(r.Attention, r.Runs[0].Attention));
        Assert.Contains("| spec | prefill ms fused | prefill ms eager | eager / fused |", report.ToMarkdown());
    }
}
