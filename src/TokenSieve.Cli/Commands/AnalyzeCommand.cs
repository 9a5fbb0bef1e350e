using System.CommandLine;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve analyze`: position statistics of kept tokens and FLOPs against latency, from a
/// bench results file (METHODS.md §15.6).</summary>
public static class AnalyzeCommand
{
    public static Command Create()
    {
        var results = new Option<string>("--results") { Description = "results JSONL written by `tokensieve bench`", Required = true };
        var output = new Option<string>("--out") { Description = "folder for analysis.md/.csv/.json and the heatmap PNGs", DefaultValueFactory = _ => "analysis" };
        var cmd = new Command("analyze", "Where the kept tokens come from (row/column fractions, heatmaps, position bias of the kept set and of the ranking signal) and FLOPs vs measured latency, per method, budget and task.")
        {
            results, output,
        };
        cmd.SetAction(p =>
        {
            var analysis = PositionAnalysis.FromFile(p.GetValue(results)!);
            foreach (var issue in analysis.Issues) Console.Error.WriteLine($"warning: {issue}");
            if (analysis.Profiles.Count == 0)
                throw new InvalidInputException($"{p.GetValue(results)}: no answer records where its tokens came from (files from before the 'kept' field, or from other tools, cannot be analysed)");
            var files = Write(analysis, p.GetValue(output)!);
            Console.Write(analysis.ToMarkdown());
            Console.WriteLine();
            Console.WriteLine($"wrote {string.Join(", ", files)}");
            return 0;
        });
        return cmd;
    }

    /// <summary>analysis.md, analysis.csv, analysis.json and, per task, a kept-mass heatmap panel per
    /// configuration (one shared colour scale) and a ranking-signal one where methods have it.</summary>
    public static List<string> Write(PositionAnalysis analysis, string folder)
    {
        Directory.CreateDirectory(folder);
        var files = new List<string>();
        void Save(string name, string text) { string path = Path.Combine(folder, name); File.WriteAllText(path, text); files.Add(path); }
        Save("analysis.md", analysis.ToMarkdown());
        Save("analysis.csv", analysis.ToCsv());
        Save("analysis.json", analysis.ToJson());
        foreach (var task in analysis.Profiles.GroupBy(p => p.Task))
        {
            foreach (var grid in task.GroupBy(p => (p.Height, p.Width)))
            {
                string stem = Safe(task.Key) + (task.Select(p => (p.Height, p.Width)).Distinct().Count() > 1 ? $"-{grid.Key.Height}x{grid.Key.Width}" : "");
                var kept = grid.Select(p => (Title: $"{p.Spec}  (row bias {p.RowBias:+0.00;-0.00;0.00})", Values: p.Heatmap)).ToList();
                string path = Path.Combine(folder, $"kept-{stem}.png");
                File.WriteAllBytes(path, HeatmapRenderer.RenderPanels($"{task.Key}: kept mass per patch (mean per answer)", kept, grid.Key.Height, grid.Key.Width, "kept mass"));
                files.Add(path);
                var ranked = grid.Where(p => p.RankingHeatmap is not null)
                    .Select(p => (Title: $"{p.Spec}  (row bias {p.RankingRowBias:+0.00;-0.00;0.00})", Values: p.RankingHeatmap!)).ToList();
                if (ranked.Count == 0) continue;
                path = Path.Combine(folder, $"ranking-{stem}.png");
                File.WriteAllBytes(path, HeatmapRenderer.RenderPanels($"{task.Key}: ranking signal per patch (normalised per answer, mean)", ranked, grid.Key.Height, grid.Key.Width, "share of score"));
                files.Add(path);
            }
        }
        return files;
    }

    static string Safe(string s) => string.Concat(s.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
}
