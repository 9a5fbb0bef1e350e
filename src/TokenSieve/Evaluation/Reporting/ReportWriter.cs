using System.Globalization;
using System.Net;
using System.Text;

namespace TokenSieve.Evaluation;

/// <summary>A chart already drawn by a renderer: PNG bytes or SVG markup (at least one).</summary>
public sealed record RenderedChart(ChartSpec Spec, byte[]? Png, string? Svg);

/// <summary>Formats a <see cref="BenchmarkReport"/> as Markdown, CSV and a self-contained HTML page.
/// Plotting lives outside the library: the HTML takes charts already rendered.</summary>
public static class ReportWriter
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string ToMarkdown(BenchmarkReport report)
    {
        var sb = new StringBuilder();
        sb.Append("# ").AppendLine(report.Title).AppendLine();
        var preamble = Preamble(report).ToList();
        sb.AppendLine(preamble[0]).AppendLine();
        foreach (var line in preamble.Skip(1)) sb.Append("- ").AppendLine(line);
        sb.AppendLine();
        sb.AppendLine("## What this shows").AppendLine();
        foreach (var line in ReportFindings.Compute(report)) sb.Append("- ").AppendLine(line);
        sb.AppendLine();
        sb.AppendLine("## Results").AppendLine();
        AppendTable(sb, MainTable(report), markdown: true);
        sb.AppendLine();
        sb.AppendLine("## Relative to the unpruned model (%)").AppendLine();
        AppendTable(sb, RelativeTable(report), markdown: true);
        if (report.Estimates.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("## Scores with 95 % confidence intervals").AppendLine();
            sb.AppendLine(StatisticsNote).AppendLine();
            AppendTable(sb, IntervalTable(report), markdown: true);
            sb.AppendLine();
            sb.AppendLine("## Paired differences").AppendLine();
            AppendTable(sb, ComparisonTable(report), markdown: true);
        }
        sb.AppendLine();
        sb.AppendLine("## Cost").AppendLine();
        AppendTable(sb, CostTable(report), markdown: true);
        foreach (string task in report.Tasks)
        {
            sb.AppendLine().Append("## ").AppendLine(task).AppendLine();
            AppendTable(sb, DetailTable(report, task), markdown: true);
        }
        return sb.ToString();
    }

    /// <summary>One row per (task, configuration): headline score, relative score and cost.</summary>
    public static string ToCsv(BenchmarkReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine("task,spec,method,budget,metric,score,relative_pct,scored,missing,unmatched,visual_tokens,prefill_ms,prefill_ms_median,decode_ms,ttft_ms,flops,parsing,settings");
        foreach (var row in report.Rows)
            foreach (var s in report.Scores.Where(s => s.Spec == row.Spec))
            {
                string rel = row.RelativeByTask.TryGetValue(s.Task, out double r) ? Num(r) : "";
                string settings = string.Join(";", s.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
                sb.AppendJoin(',', Csv(s.Task), Csv(s.Spec), Csv(s.Method), s.Budget?.ToString(Inv) ?? "", Csv(s.Score.MainMetric),
                    Num(s.Score.Main), rel, s.Score.Scored.ToString(Inv), s.Score.Missing.ToString(Inv), s.Unmatched.ToString(Inv),
                    Num(s.Cost.MeanVisualTokens), Num(s.Cost.MeanPrefillMs), Num(s.Cost.MedianPrefillMs), Num(s.Cost.MeanDecodeMs),
                    Num(s.Cost.MeanTtftMs), Num(s.Cost.MeanFlops), s.Score.Parsing == AnswerParsing.Llava ? "llava" : "lmms-eval", Csv(settings));
                sb.AppendLine();
            }
        return sb.ToString();
    }

    /// <summary>Every metric in long form: task, spec, metric, value.</summary>
    public static string ToMetricsCsv(BenchmarkReport report)
    {
        var sb = new StringBuilder("task,spec,metric,value\n");
        foreach (var s in report.Scores)
            foreach (var (k, v) in s.Score.Metrics)
                sb.AppendJoin(',', Csv(s.Task), Csv(s.Spec), Csv(k), Num(v)).AppendLine();
        return sb.ToString();
    }

    public static string ToHtml(BenchmarkReport report, IReadOnlyList<RenderedChart> charts)
    {
        var sb = new StringBuilder();
        sb.AppendLine("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<title>").Append(H(report.Title)).AppendLine("</title>");
        sb.AppendLine("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}" +
                      "table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}" +
                      "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}" +
                      ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:1em}" +
                      "figure{margin:0;border:1px solid #ddd;padding:.5em}figure img,figure svg{width:100%;height:auto}" +
                      ".table{overflow-x:auto}code{background:#f3f3f3;padding:0 .2em}" +
                      ".findings{background:#f6f9ff;border-left:4px solid #4a7bd0;padding:.5em 1em}</style></head><body>");
        sb.Append("<h1>").Append(H(report.Title)).AppendLine("</h1>");
        foreach (var line in Preamble(report)) sb.Append("<p>").Append(Code(line)).AppendLine("</p>");
        sb.AppendLine("<h2>What this shows</h2><ul class=\"findings\">");
        foreach (var line in ReportFindings.Compute(report)) sb.Append("<li>").Append(Code(line)).AppendLine("</li>");
        sb.AppendLine("</ul>");
        sb.AppendLine("<h2>Results</h2>");
        AppendTable(sb, MainTable(report), markdown: false);
        if (charts.Count > 0)
        {
            sb.AppendLine("<h2>Charts</h2><div class=\"charts\">");
            foreach (var c in charts)
            {
                sb.AppendLine("<figure>");
                if (c.Svg is not null) sb.AppendLine(c.Svg);
                else if (c.Png is not null)
                    sb.Append("<img alt=\"").Append(H(c.Spec.Title)).Append("\" src=\"data:image/png;base64,")
                      .Append(Convert.ToBase64String(c.Png)).AppendLine("\">");
                sb.AppendLine("</figure>"); // the chart draws its own title; a caption only repeated it
            }
            sb.AppendLine("</div>");
        }
        sb.AppendLine("<h2>Relative to the unpruned model (%)</h2>");
        AppendTable(sb, RelativeTable(report), markdown: false);
        if (report.Estimates.Count > 0)
        {
            sb.AppendLine("<h2>Scores with 95 % confidence intervals</h2>");
            sb.Append("<p>").Append(H(StatisticsNote)).AppendLine("</p>");
            AppendTable(sb, IntervalTable(report), markdown: false);
            sb.AppendLine("<h2>Paired differences</h2>");
            AppendTable(sb, ComparisonTable(report), markdown: false);
        }
        sb.AppendLine("<h2>Cost</h2>");
        AppendTable(sb, CostTable(report), markdown: false);
        foreach (string task in report.Tasks)
        {
            sb.Append("<h2>").Append(H(task)).AppendLine("</h2>");
            AppendTable(sb, DetailTable(report, task), markdown: false);
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }

    static IEnumerable<string> Preamble(BenchmarkReport report)
    {
        yield return $"Baseline (100%): `{report.BaselineSpec}`. Avg. is the mean over tasks of score / baseline score, as the pruning papers print it; " +
                     "tokens, times and FLOPs are measured means over the scored items.";
        foreach (string task in report.Tasks)
        {
            var s = report.Scores.First(x => x.Task == task);
            string settings = string.Join(", ", s.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));
            yield return $"{task}: {s.Score.MainMetric}, {(s.Score.Parsing == AnswerParsing.Llava ? "LLaVA" : "lmms-eval")} parsing" +
                         (settings.Length > 0 ? $", {settings}" : "") + ".";
        }
        if (report.ReadIssues.Count > 0)
            yield return $"{report.ReadIssues.Count} line(s) of the results file could not be read and are not counted: " +
                         string.Join("; ", report.ReadIssues.Take(5).Select(i => i.ToString())) + (report.ReadIssues.Count > 5 ? "; …" : "") + ".";
    }

    static List<string[]> MainTable(BenchmarkReport report)
    {
        var rows = new List<string[]>
        {
            new[] { "Method", "Tokens" }.Concat(report.Tasks.Select(t => $"{t} ({report.MetricOf(t)})"))
                .Concat(["Avg.", "Prefill ms", "Speed-up", "GFLOPs"]).ToArray(),
        };
        foreach (var r in report.Rows)
            rows.Add(new[] { r.Spec, BenchmarkReport.F(r.MeanVisualTokens, 0) }
                .Concat(report.Tasks.Select(t => r.MainByTask.TryGetValue(t, out double v) ? BenchmarkReport.F(v) : "–"))
                .Concat([r.AverageRelative is { } a ? BenchmarkReport.F(a) + "%" : "–", BenchmarkReport.F(r.MeanPrefillMs),
                    r.PrefillSpeedup is { } sp ? BenchmarkReport.F(sp, 2) + "×" : "–", BenchmarkReport.F(r.MeanFlops / 1e9, 2)])
                .ToArray());
        return rows;
    }

    static List<string[]> RelativeTable(BenchmarkReport report)
    {
        var rows = new List<string[]> { new[] { "Method" }.Concat(report.Tasks).Append("Avg.").ToArray() };
        foreach (var r in report.Rows)
            rows.Add(new[] { r.Spec }.Concat(report.Tasks.Select(t => r.RelativeByTask.TryGetValue(t, out double v) ? BenchmarkReport.F(v) : "–"))
                .Append(BenchmarkReport.F(r.AverageRelative)).ToArray());
        return rows;
    }

    const string StatisticsNote = "Intervals: percentile bootstrap over items (or their scoring groups), 2000 resamples, fixed seed; " +
        "differences are paired by item (the same resamples for both methods). p: exact McNemar on per-item correctness for accuracy tasks, " +
        "paired permutation test otherwise (F1, VQA accuracy, MME, MMBench). A difference whose interval crosses 0 may be noise.";

    static List<string[]> IntervalTable(BenchmarkReport report)
    {
        var rows = new List<string[]> { new[] { "Method" }.Concat(report.Tasks.Select(t => $"{t} [95% CI]")).ToArray() };
        foreach (var r in report.Rows)
            rows.Add(new[] { r.Spec }.Concat(report.Tasks.Select(t => report.Estimates.TryGetValue((t, r.Spec), out var e)
                ? $"{BenchmarkReport.F(e.Value)} {e.Ci95}" : "–")).ToArray());
        return rows;
    }

    static List<string[]> ComparisonTable(BenchmarkReport report)
    {
        var rows = new List<string[]> { new[] { "Task", "A", "B", "A − B", "95% CI", "p", "test", "n" } };
        foreach (var c in report.Comparisons)
            rows.Add([c.Task, c.A, c.B, BenchmarkReport.F(c.Difference, 2), c.Ci95.ToString(), c.PValue < 0.001 ? "<0.001" : c.PValue.ToString("0.###", Inv), c.Test, c.Units.ToString(Inv)]);
        return rows;
    }

    /// <summary>Every paired comparison, one per line.</summary>
    public static string ToComparisonsCsv(BenchmarkReport report)
    {
        var sb = new StringBuilder("task,a,b,difference,ci_low,ci_high,p,test,n\n");
        foreach (var c in report.Comparisons)
            sb.AppendJoin(',', Csv(c.Task), Csv(c.A), Csv(c.B), Num(c.Difference), Num(c.Ci95.Low), Num(c.Ci95.High), Num(c.PValue), c.Test, c.Units.ToString(Inv)).AppendLine();
        return sb.ToString();
    }

    static List<string[]> CostTable(BenchmarkReport report)
    {
        var rows = new List<string[]> { new[] { "Task", "Method", "n", "Tokens", "Prefill ms", "Prefill ms (median)", "Decode ms", "TTFT ms", "GFLOPs" } };
        foreach (var r in report.Rows)
            foreach (var s in report.Scores.Where(s => s.Spec == r.Spec))
                rows.Add([s.Task, s.Spec, s.Cost.Count.ToString(Inv), BenchmarkReport.F(s.Cost.MeanVisualTokens, 1),
                    BenchmarkReport.F(s.Cost.MeanPrefillMs), BenchmarkReport.F(s.Cost.MedianPrefillMs), BenchmarkReport.F(s.Cost.MeanDecodeMs),
                    BenchmarkReport.F(s.Cost.MeanTtftMs), BenchmarkReport.F(s.Cost.MeanFlops / 1e9, 2)]);
        return rows;
    }

    /// <summary>Sub-metrics of one task (per split, per subtask); per-category hit rates stay in the metrics CSV.</summary>
    static List<string[]> DetailTable(BenchmarkReport report, string task)
    {
        var scores = report.Rows.Select(r => report.Scores.FirstOrDefault(s => s.Task == task && s.Spec == r.Spec)).OfType<ConfigurationScore>().ToList();
        var keys = scores.SelectMany(s => s.Score.Metrics.Keys)
            .Where(k => !k.StartsWith("category/", StringComparison.Ordinal) && !k.StartsWith("l2/", StringComparison.Ordinal))
            .Distinct().ToList();
        if (keys.Count > 8 && keys.Any(k => k.Contains('/'))) return GroupedDetailTable(scores, keys);
        var rows = new List<string[]> { new[] { "Method", "scored", "missing" }.Concat(keys).ToArray() };
        foreach (var s in scores)
            rows.Add(new[] { s.Spec, s.Score.Scored.ToString(Inv), s.Score.Missing.ToString(Inv) }
                .Concat(keys.Select(k => s.Score.Metrics.TryGetValue(k, out double v) ? BenchmarkReport.F(v, 2) : "–")).ToArray());
        return rows;
    }

    /// <summary>Metrics named "subset/metric" (POPE's and lab-existence's three negative sets × six
    /// metrics, plus their means) as one row per method and subset: as one row per method the table was
    /// 21 columns wide and ran off a 1400-px page.</summary>
    static List<string[]> GroupedDetailTable(List<ConfigurationScore> scores, List<string> keys)
    {
        static (string Group, string Metric) Split(string key)
        {
            int slash = key.IndexOf('/');
            if (slash > 0) return (key[..slash], key[(slash + 1)..]);
            return key.StartsWith("mean_", StringComparison.Ordinal) ? ("mean", key[5..]) : ("", key);
        }
        var split = keys.Select(k => (Key: k, Part: Split(k))).ToList();
        var groups = split.Select(x => x.Part.Group).Distinct().OrderBy(g => g is "mean" or "" ? 1 : 0).ToList(); // means last
        var metrics = split.Select(x => x.Part.Metric).Distinct().ToList();
        var rows = new List<string[]> { new[] { "Method", "scored", "missing", "subset" }.Concat(metrics).ToArray() };
        foreach (var s in scores)
            foreach (string g in groups)
                rows.Add(new[] { s.Spec, s.Score.Scored.ToString(Inv), s.Score.Missing.ToString(Inv), g == "" ? "–" : g }
                    .Concat(metrics.Select(m =>
                    {
                        string? key = split.FirstOrDefault(x => x.Part == (g, m)).Key;
                        return key is not null && s.Score.Metrics.TryGetValue(key, out double v) ? BenchmarkReport.F(v, 2) : "–";
                    })).ToArray());
        return rows;
    }

    static void AppendTable(StringBuilder sb, List<string[]> rows, bool markdown)
    {
        if (markdown)
        {
            sb.Append("| ").AppendJoin(" | ", rows[0].Select(MdCell)).AppendLine(" |");
            sb.Append('|').AppendJoin("|", rows[0].Select((_, i) => i == 0 ? "---" : "---:")).AppendLine("|");
            foreach (var r in rows.Skip(1)) sb.Append("| ").AppendJoin(" | ", r.Select(MdCell)).AppendLine(" |");
            return;
        }
        sb.Append("<div class=\"table\"><table><thead><tr>");
        // Metric headers such as "adversarial/precision" may break after '/' or '_': a table of ten
        // of them ran past a 1400-px window in Chromium.
        foreach (var h in rows[0]) sb.Append("<th>").Append(H(h).Replace("/", "/<wbr>").Replace("_", "_<wbr>")).Append("</th>");
        sb.AppendLine("</tr></thead><tbody>");
        foreach (var r in rows.Skip(1))
        {
            sb.Append("<tr>");
            foreach (var c in r) sb.Append("<td>").Append(H(c)).Append("</td>");
            sb.AppendLine("</tr>");
        }
        sb.AppendLine("</tbody></table></div>");
    }

    static string MdCell(string s) => s.Replace("|", "\\|");
    static string H(string s) => WebUtility.HtmlEncode(s);

    /// <summary>HTML-encodes a Markdown-style line, its `code` spans as &lt;code&gt;.</summary>
    static string Code(string s)
    {
        var parts = s.Split('`');
        var sb = new StringBuilder();
        for (int i = 0; i < parts.Length; i++)
            sb.Append(i % 2 == 1 && i < parts.Length - 1 ? "<code>" + H(parts[i]) + "</code>" : (i % 2 == 1 ? "`" : "") + H(parts[i]));
        return sb.ToString();
    }
    static string Num(double v) => double.IsFinite(v) ? v.ToString("R", Inv) : "";

    static string Csv(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
