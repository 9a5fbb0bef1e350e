using TokenSieve.Evaluation;

namespace TokenSieve.Cli.Reports;

/// <summary>The files a report consists of.</summary>
public sealed record ReportOutput(string Markdown, string Csv, string MetricsCsv, string Html, IReadOnlyList<string> ChartPngs);

/// <summary>Writes a benchmark report to a folder: <c>report.md</c>, <c>report.csv</c> (one row per task ×
/// configuration), <c>metrics.csv</c> (every metric), <c>comparisons.csv</c> (paired differences with
/// intervals and p-values), <c>report.html</c> (self-contained, charts embedded as base64 PNG) and
/// <c>charts/*.png</c>.</summary>
public static class ReportFiles
{
    public static ReportOutput Write(BenchmarkReport report, string outputFolder)
    {
        Directory.CreateDirectory(outputFolder);
        string chartDir = Path.Combine(outputFolder, "charts");
        Directory.CreateDirectory(chartDir);
        var rendered = new List<RenderedChart>();
        var pngs = new List<string>();
        foreach (var spec in ReportCharts.Build(report))
        {
            byte[] png = ChartRenderer.RenderPng(spec);
            string path = Path.Combine(chartDir, spec.Id + ".png");
            File.WriteAllBytes(path, png);
            pngs.Add(path);
            rendered.Add(new RenderedChart(spec, png, null));
        }
        var output = new ReportOutput(Path.Combine(outputFolder, "report.md"), Path.Combine(outputFolder, "report.csv"),
            Path.Combine(outputFolder, "metrics.csv"), Path.Combine(outputFolder, "report.html"), pngs);
        File.WriteAllText(output.Markdown, ReportWriter.ToMarkdown(report));
        File.WriteAllText(output.Csv, ReportWriter.ToCsv(report));
        File.WriteAllText(output.MetricsCsv, ReportWriter.ToMetricsCsv(report));
        File.WriteAllText(output.Html, ReportWriter.ToHtml(report, rendered));
        if (report.Comparisons.Count > 0) File.WriteAllText(Path.Combine(outputFolder, "comparisons.csv"), ReportWriter.ToComparisonsCsv(report));
        return output;
    }
}
