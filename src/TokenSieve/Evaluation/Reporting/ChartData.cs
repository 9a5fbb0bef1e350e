namespace TokenSieve.Evaluation;

/// <summary>One point of a chart, labelled with the configuration it stands for.</summary>
public sealed record ChartPoint(double X, double Y, string Label);

/// <summary>One line of a chart: a method across its budgets.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<ChartPoint> Points);

/// <summary>A chart to draw, independent of any plotting library (the CLI renders it with ScottPlot).
/// <see cref="BaselineY"/> draws the unpruned model as a horizontal reference line; <see cref="ConnectPoints"/>
/// is false for scatter plots whose points are not a sweep (FLOPs vs latency across tasks).
/// <see cref="ColorIndex"/> gives each method the same colour in every chart of a report.</summary>
public sealed record ChartSpec(string Id, string Title, string XLabel, string YLabel, IReadOnlyList<ChartSeries> Series,
    double? BaselineY = null, bool ConnectPoints = true)
{
    public IReadOnlyDictionary<string, int> ColorIndex { get; init; } = new Dictionary<string, int>();
}

/// <summary>The report's charts: accuracy vs visual tokens and vs measured prefill time (average relative
/// score when there are several tasks, then each task), and FLOPs vs prefill latency.</summary>
public static class ReportCharts
{
    public static IReadOnlyList<ChartSpec> Build(BenchmarkReport report)
    {
        var charts = new List<ChartSpec>();
        if (report.Tasks.Count > 1 && report.Rows.Any(r => r.AverageRelative.HasValue))
        {
            charts.Add(RowChart(report, "avg_vs_tokens", "Average score relative to unpruned vs visual tokens", "visual tokens (mean, measured)",
                "average relative score (%)", r => r.MeanVisualTokens, r => r.AverageRelative, 100));
            charts.Add(RowChart(report, "avg_vs_prefill", "Average score relative to unpruned vs prefill time", "prefill time (ms, mean)",
                "average relative score (%)", r => r.MeanPrefillMs, r => r.AverageRelative, 100));
        }
        foreach (string task in report.Tasks)
        {
            string metric = report.MetricOf(task);
            var scores = report.Scores.Where(s => s.Task == task).ToList();
            double? baseline = scores.FirstOrDefault(s => s.Spec == report.BaselineSpec)?.Score.Main;
            charts.Add(new ChartSpec($"{Slug(task)}_vs_tokens", $"{task}: {metric} vs visual tokens", "visual tokens (mean, measured)", metric,
                Series(scores, s => s.Cost.MeanVisualTokens, s => s.Score.Main), baseline));
            charts.Add(new ChartSpec($"{Slug(task)}_vs_prefill", $"{task}: {metric} vs prefill time", "prefill time (ms, mean)", metric,
                Series(scores, s => s.Cost.MeanPrefillMs, s => s.Score.Main), baseline));
        }
        charts.Add(new ChartSpec("flops_vs_latency", "Prefill FLOPs vs measured prefill time", "prefill GFLOPs (cost model)", "prefill time (ms, mean)",
            Series(report.Scores, s => s.Cost.MeanFlops / 1e9, s => s.Cost.MeanPrefillMs), ConnectPoints: false));
        var colors = report.Scores.Select(s => s.Method).Distinct().Select((m, i) => (m, i)).ToDictionary(t => t.m, t => t.i);
        return charts.Where(c => c.Series.Any(s => s.Points.Count > 0)).Select(c => c with { ColorIndex = colors }).ToList();
    }

    static ChartSpec RowChart(BenchmarkReport report, string id, string title, string x, string y,
        Func<ReportRow, double> fx, Func<ReportRow, double?> fy, double? baseline)
    {
        var series = report.Rows.GroupBy(r => r.Method).Select(g => new ChartSeries(g.Key,
            g.Where(r => fy(r).HasValue && double.IsFinite(fx(r)))
             .Select(r => new ChartPoint(fx(r), fy(r)!.Value, r.Spec)).OrderBy(p => p.X).ToList())).ToList();
        return new ChartSpec(id, title, x, y, series, baseline);
    }

    static List<ChartSeries> Series(IEnumerable<ConfigurationScore> scores, Func<ConfigurationScore, double> fx, Func<ConfigurationScore, double> fy) =>
        scores.GroupBy(s => s.Method).Select(g => new ChartSeries(g.Key,
            g.Where(s => double.IsFinite(fx(s)) && double.IsFinite(fy(s)))
             .Select(s => new ChartPoint(fx(s), fy(s), $"{s.Task} {s.Spec}")).OrderBy(p => p.X).ToList())).ToList();

    static string Slug(string s) => new(s.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_').ToArray());
}
