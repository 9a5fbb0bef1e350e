using System.Text;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Report tables and files from a synthetic sweep. Relative scores and speed-ups are compared to
/// 9 decimals: they are ratios of means of exact fractions, so only float rounding can differ.</summary>
public class ReportTests
{
    /// <summary>A synthetic sweep: two tasks, the baseline and one method at two budgets; the fake model
    /// is right on a fraction of items that grows with the budget, and its prefill time grows with tokens.</summary>
    internal static async Task<List<ConfigurationScore>> SyntheticScores(string folder)
    {
        var pope = new EvalDataset
        {
            Task = "pope", Kind = TaskKind.Pope,
            Items = Enumerable.Range(0, 60).Select(i => new EvalItem
            {
                Task = "pope", QuestionId = $"p{i}", Question = "q", Prompt = "q", Answers = [i % 2 == 0 ? "yes" : "no"],
                Category = (i % 3) switch { 0 => "random", 1 => "popular", _ => "adversarial" },
            }).ToList(),
        };
        var gqa = new EvalDataset
        {
            Task = "gqa", Kind = TaskKind.Gqa,
            Items = Enumerable.Range(0, 40).Select(i => new EvalItem
            {
                Task = "gqa", QuestionId = $"g{i}", Question = "q", Prompt = "q", Answers = [$"a{i % 4}"],
            }).ToList(),
        };
        var methods = MethodSpec.Expand(["none", "fastervlm", "random"], [64, 192]);
        Answerer fake = (req, ct) =>
        {
            int tokens = req.Method.Budget ?? 576;
            double quality = req.Method.Method == "random" ? tokens / 800.0 + 0.1 : tokens / 700.0 + 0.15;
            bool right = (req.Seed % 1000) / 1000.0 < Math.Min(0.95, quality);
            string truth = req.Item.Answers[0];
            string text = right ? truth : req.Item.Task == "pope" ? (truth == "yes" ? "no" : "yes") : "wrong";
            return ValueTask.FromResult(new Prediction(text, tokens, 40 + tokens * 0.25, 30, 45 + tokens * 0.25, 2e9 + tokens * 1.3e9));
        };
        string path = Path.Combine(folder, "results.jsonl");
        await EvalRunner.RunAsync([pope, gqa], methods, path, fake, new SweepOptions { Seed = 1 });
        return [.. PredictionScoring.ScoreRun([pope, gqa], path)];
    }

    [Fact]
    public async Task Report_TableRelativeToBaseline()
    {
        using var dir = new TempDir();
        var scores = await SyntheticScores(dir.Path);
        var report = new BenchmarkReport(scores);
        Assert.Equal(["none", "fastervlm:192", "fastervlm:64", "random:192", "random:64"], report.Rows.Select(r => r.Spec));
        var baseline = report.Rows[0];
        Assert.Equal(100, baseline.AverageRelative!.Value, 9);
        Assert.Equal(1, baseline.PrefillSpeedup!.Value, 9);
        var row = report.Rows[2];
        double expected = (100 * row.MainByTask["pope"] / baseline.MainByTask["pope"] + 100 * row.MainByTask["gqa"] / baseline.MainByTask["gqa"]) / 2;
        Assert.Equal(expected, row.AverageRelative!.Value, 9);
        Assert.Equal(64, row.MeanVisualTokens, 9);
        Assert.Equal((40 + 576 * 0.25) / (40 + 64 * 0.25), row.PrefillSpeedup!.Value, 9);

        string md = ReportWriter.ToMarkdown(report);
        Assert.Contains("| Method | Tokens | pope (mean_f1) | gqa (accuracy) | Avg. | Prefill ms | Speed-up | GFLOPs |", md);
        Assert.Contains("| none | 576 |", md);
        Assert.Contains("100.0%", md);
        string csv = ReportWriter.ToCsv(report);
        Assert.Equal(1 + 10, csv.TrimEnd().Split('\n').Length);
        Assert.StartsWith("task,spec,method,budget,metric,score,relative_pct", csv);
        Assert.Contains("random/f1", ReportWriter.ToMetricsCsv(report));

        // POPE's subset metrics: one row per method and subset (means last) instead of ~20 columns
        string pope = md[md.IndexOf("## pope", StringComparison.Ordinal)..];
        pope = pope[..pope.IndexOf("\n\n", pope.IndexOf("| Method", StringComparison.Ordinal), StringComparison.Ordinal)];
        string[] lines = pope.Split('\n').Where(l => l.StartsWith('|')).ToArray();
        Assert.StartsWith("| Method | scored | missing | subset | accuracy |", lines[0]);
        Assert.DoesNotContain("/", lines[0]);
        string[] noneRows = lines.Where(l => l.StartsWith("| none |", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["adversarial", "popular", "random", "mean"], noneRows.Select(l => l.Split('|')[4].Trim()));
        var popeNone = report.Scores.Single(s => s.Task == "pope" && s.Spec == "none").Score.Metrics;
        Assert.Contains(BenchmarkReport.F(popeNone["popular/precision"], 2), noneRows[1]);
    }

    [Fact]
    public async Task ReportFiles_RenderChartsAndSelfContainedHtml()
    {
        using var dir = new TempDir();
        var report = new BenchmarkReport(await SyntheticScores(dir.Path));
        var output = ReportFiles.Write(report, Path.Combine(dir.Path, "report"));
        var ids = output.ChartPngs.Select(Path.GetFileNameWithoutExtension).ToList();
        Assert.Equal(["avg_vs_tokens", "avg_vs_prefill", "pope_vs_tokens", "pope_vs_prefill", "gqa_vs_tokens", "gqa_vs_prefill", "flops_vs_latency"], ids);
        foreach (string png in output.ChartPngs)
        {
            byte[] bytes = File.ReadAllBytes(png);
            Assert.True(bytes.Length > 5000, $"{png} is only {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        string html = File.ReadAllText(output.Html, Encoding.UTF8);
        Assert.Equal(7, CountOf(html, "src=\"data:image/png;base64,"));
        Assert.DoesNotContain("src=\"http", html);
        Assert.DoesNotContain("<script", html);
        Assert.Contains("<th>Avg.</th>", html);
        Assert.True(File.Exists(output.Markdown) && File.Exists(output.Csv) && File.Exists(output.MetricsCsv));
        Assert.Contains("<svg", ChartRenderer.RenderSvg(ReportCharts.Build(report)[0]));
    }

    static int CountOf(string s, string sub)
    {
        int n = 0, i = 0;
        while ((i = s.IndexOf(sub, i, StringComparison.Ordinal)) >= 0) { n++; i += sub.Length; }
        return n;
    }
}
