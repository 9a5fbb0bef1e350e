using System.Globalization;

namespace TokenSieve.Evaluation;

/// <summary>One row of the paper-style table: a configuration, its headline score on each task, and
/// the average of its scores relative to the unpruned baseline (as VisionZip/PruMerge/FasterVLM print it).</summary>
public sealed record ReportRow(string Spec, string Method, int? Budget, IReadOnlyDictionary<string, double> MainByTask,
    IReadOnlyDictionary<string, double> RelativeByTask, double? AverageRelative, double MeanVisualTokens,
    double MeanPrefillMs, double MeanFlops, double? PrefillSpeedup);

/// <summary>Everything a report shows, computed once from the configuration scores; the Markdown, CSV
/// and HTML writers and the chart renderer only format it.</summary>
public sealed class BenchmarkReport
{
    public string Title { get; }
    public string BaselineSpec { get; }
    public IReadOnlyList<string> Tasks { get; }
    public IReadOnlyList<ConfigurationScore> Scores { get; }
    public IReadOnlyList<ReportRow> Rows { get; }

    /// <summary>Lines of the results file that could not be read (torn or corrupt), with their line
    /// numbers; the report states how many were skipped.</summary>
    public IReadOnlyList<ReadIssue> ReadIssues { get; init; } = [];

    /// <param name="baselineSpec">The unpruned configuration; relative numbers and speed-ups are against it.
    /// When it is absent, relative columns are empty.</param>
    public BenchmarkReport(IReadOnlyList<ConfigurationScore> scores, string baselineSpec = "none", string title = "TokenSieve benchmark")
    {
        Title = title;
        BaselineSpec = baselineSpec;
        Scores = scores;
        Tasks = scores.Select(s => s.Task).Distinct().ToList();
        var baseline = scores.Where(s => s.Spec == baselineSpec).ToDictionary(s => s.Task);
        double basePrefill = Mean(baseline.Values.Select(b => b.Cost.MeanPrefillMs));
        var rows = new List<ReportRow>();
        foreach (var g in scores.GroupBy(s => s.Spec))
        {
            var main = g.ToDictionary(s => s.Task, s => s.Score.Main);
            var rel = new Dictionary<string, double>();
            foreach (var s in g)
                if (baseline.TryGetValue(s.Task, out var b) && b.Score.Main != 0) rel[s.Task] = 100 * (s.Score.Main / b.Score.Main);   // x / x is exactly 1, so the baseline reads 100
            double? avg = rel.Count == Tasks.Count && rel.Count > 0 ? rel.Values.Average() : null;
            double prefill = Mean(g.Select(s => s.Cost.MeanPrefillMs));
            var first = g.First();
            rows.Add(new ReportRow(g.Key, first.Method, first.Budget, main, rel, avg,
                Mean(g.Select(s => s.Cost.MeanVisualTokens)), prefill, Mean(g.Select(s => s.Cost.MeanFlops)),
                double.IsFinite(basePrefill) && double.IsFinite(prefill) && prefill > 0 ? basePrefill / prefill : null));
        }
        // Baseline first, then by method (first appearance) and descending tokens, as papers list them.
        var methodOrder = scores.Select(s => s.Method).Distinct().ToList();
        Rows = rows.OrderBy(r => r.Spec == baselineSpec ? 0 : 1)
            .ThenBy(r => methodOrder.IndexOf(r.Method))
            .ThenByDescending(r => double.IsFinite(r.MeanVisualTokens) ? r.MeanVisualTokens : 0)
            .ToList();
    }

    /// <summary>Each configuration's score with its 95 % bootstrap interval, by (task, spec).</summary>
    public IReadOnlyDictionary<(string Task, string Spec), ScoreEstimate> Estimates => _estimates ??= ComputeEstimates();

    /// <summary>Paired comparisons per task: every configuration against the baseline, and every two
    /// configurations with the same budget against each other.</summary>
    public IReadOnlyList<PairedComparison> Comparisons => _comparisons ??= ComputeComparisons();

    Dictionary<(string, string), ScoreEstimate>? _estimates;
    List<PairedComparison>? _comparisons;

    Dictionary<(string, string), ScoreEstimate> ComputeEstimates()
    {
        var result = new Dictionary<(string, string), ScoreEstimate>();
        foreach (var s in Scores)
            if (s.Dataset is not null && s.Predictions is { Count: > 0 }) result[(s.Task, s.Spec)] = PairedStatistics.Estimate(s.Dataset, s.Predictions, s.Score.Parsing);
        return result;
    }

    List<PairedComparison> ComputeComparisons()
    {
        var result = new List<PairedComparison>();
        foreach (var task in Tasks)
        {
            var configs = Scores.Where(s => s.Task == task && s.Dataset is not null && s.Predictions is { Count: > 0 }).ToList();
            var baseline = configs.FirstOrDefault(s => s.Spec == BaselineSpec);
            foreach (var s in configs)
            {
                if (baseline is not null && s != baseline)
                    result.Add(Compare(s, baseline));
            }
            foreach (var group in configs.Where(s => s.Budget is not null).GroupBy(s => s.Budget))
            {
                var list = group.ToList();
                for (int i = 0; i < list.Count; i++)
                    for (int j = i + 1; j < list.Count; j++) result.Add(Compare(list[i], list[j]));
            }
        }
        return result;
    }

    static PairedComparison Compare(ConfigurationScore a, ConfigurationScore b) =>
        PairedStatistics.Compare(a.Dataset!, a.Spec, a.Predictions!, b.Spec, b.Predictions!, a.Score.Parsing);

    /// <summary>The headline metric's name for a task ("mean_f1", "perception", …).</summary>
    public string MetricOf(string task) => Scores.First(s => s.Task == task).Score.MainMetric;

    internal static double Mean(IEnumerable<double> xs)
    {
        var l = xs.Where(double.IsFinite).ToList();
        return l.Count == 0 ? double.NaN : l.Average();
    }

    internal static string F(double v, int digits = 1) =>
        double.IsFinite(v) ? v.ToString("F" + digits, CultureInfo.InvariantCulture) : "–";

    internal static string F(double? v, int digits = 1) => v is { } x ? F(x, digits) : "–";
}
