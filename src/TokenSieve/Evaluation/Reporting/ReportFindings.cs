using System.Globalization;

namespace TokenSieve.Evaluation;

/// <summary>The "what this shows" lines of a report, computed from its numbers: the best configuration
/// at each budget (by the average share of the unpruned score it keeps), the largest losses, and how many
/// paired differences cannot be told from noise (95 % interval containing 0).</summary>
public static class ReportFindings
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IReadOnlyList<string> Compute(BenchmarkReport report)
    {
        var lines = new List<string>();
        var reduced = report.Rows.Where(r => r.Spec != report.BaselineSpec && r.AverageRelative is not null).ToList();
        if (reduced.Count == 0)
        {
            lines.Add($"No reduced configuration is compared with `{report.BaselineSpec}` here, so nothing is concluded.");
            return lines;
        }
        // Budgets: the configurations' nominal budget, else their measured visual tokens.
        foreach (var group in reduced.GroupBy(r => r.Budget ?? (int)Math.Round(r.MeanVisualTokens)).OrderBy(g => g.Key))
        {
            var ranked = group.OrderByDescending(r => r.AverageRelative).ToList();
            string line = $"At {group.Key} visual tokens, `{ranked[0].Spec}` keeps the most: {Pct(ranked[0].AverageRelative!.Value)} of the unpruned score on average";
            if (ranked.Count > 1)
                line += $", ahead of {string.Join(", ", ranked.Skip(1).Take(3).Select(r => $"`{r.Spec}` ({Pct(r.AverageRelative!.Value)})"))}";
            if (ranked.Count > 1 && CiOverlap(report, ranked[0].Spec, ranked[1].Spec) is { } overlap) line += overlap;
            lines.Add(line + ".");
        }
        var losses = reduced.SelectMany(r => r.RelativeByTask.Select(kv => (Row: r, Task: kv.Key, Relative: kv.Value)))
            .Where(x => double.IsFinite(x.Relative)).OrderBy(x => x.Relative).Take(3).ToList();
        if (losses.Count > 0)
            lines.Add("Largest losses: " + string.Join("; ", losses.Select(x => $"{x.Task} under `{x.Row.Spec}` ({Pct(x.Relative)} of unpruned)")) + ".");
        var comparisons = report.Comparisons;
        if (comparisons.Count > 0)
        {
            int noise = comparisons.Count(c => c.Ci95.Low <= 0 && c.Ci95.High >= 0);
            lines.Add($"{noise} of {comparisons.Count} paired differences have a 95 % interval that contains 0: those gaps may be noise at this sample size.");
        }
        return lines;
    }

    /// <summary>", but the gap to B is within noise on T1, T2" when paired intervals of the top two contain 0.</summary>
    static string? CiOverlap(BenchmarkReport report, string a, string b)
    {
        var tasks = report.Comparisons.Where(c => (c.A == a && c.B == b || c.A == b && c.B == a) && c.Ci95.Low <= 0 && c.Ci95.High >= 0)
            .Select(c => c.Task).Distinct().ToList();
        return tasks.Count == 0 ? null : $", but its gap to `{b}` is within noise on {string.Join(", ", tasks)}";
    }

    static string Pct(double v) => v.ToString("0.0", Inv) + " %";
}
