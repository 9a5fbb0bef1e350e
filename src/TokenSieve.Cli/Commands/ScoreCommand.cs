using System.CommandLine;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve score`: scores a predictions file (LLaVA answer-file JSONL, or TokenSieve
/// results) against a benchmark's annotations without running a model.</summary>
public static class ScoreCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "benchmark: " + string.Join(", ", BenchmarkDatasets.Names), Required = true };
        var pred = new Option<string>("--pred") { Description = "predictions JSONL ({question_id, text, ...} per line)", Required = true };
        var ann = new Option<string>("--ann") { Description = "annotation file or folder of the benchmark", Required = true };
        var parsing = new Option<string>("--parsing") { Description = "llava or lmms-eval answer parsing", DefaultValueFactory = _ => "llava" };
        var report = new Option<string?>("--report") { Description = "also write report.md/.csv/.html with charts into this folder" };
        var cmd = new Command("score", "Score a predictions file against a benchmark's annotations (no model needed).") { task, pred, ann, parsing, report };
        cmd.SetAction(p =>
        {
            var dataset = BenchmarkDatasets.Load(p.GetValue(task)!, p.GetValue(ann)!, null);
            if (dataset.Skipped > 0) Console.Error.WriteLine($"{dataset.Task}: skipped {dataset.Skipped} malformed annotation entries (first: {dataset.Issues[0]})");
            var issues = new List<ReadIssue>();
            var scores = PredictionScoring.ScoreFile(dataset, p.GetValue(pred)!, BenchCommand.ParseParsing(p.GetValue(parsing)!), issues);
            BenchCommand.ReportReadIssues(issues);
            BenchCommand.PrintScores(scores);
            foreach (var s in scores)
            {
                Console.WriteLine($"{s.Task} {s.Spec}: {s.Score.MainMetric} = {s.Score.Main:F2} ({s.Score.Scored} scored, {s.Score.Missing} without a prediction, {s.Unmatched} predictions unmatched)");
                foreach (var (k, v) in s.Score.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal)) Console.WriteLine($"  {k} = {v:F4}");
            }
            if (p.GetValue(report) is { } dir) ReportFiles.Write(new BenchmarkReport(scores) { ReadIssues = issues }, dir);
            return 0;
        });
        return cmd;
    }
}
