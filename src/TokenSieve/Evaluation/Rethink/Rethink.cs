using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Evaluation;

/// <summary>Turn-2 against single-turn scores of the same questions, per method.</summary>
public sealed record MultiTurnRow(string Task, string Spec, double SingleTurn, double SecondTurn, PairedComparison? Comparison);

/// <summary>What a protocol run produced.</summary>
public sealed record RethinkResult(string ModelName, string DataName, int Items, RethinkPlan Plan, IReadOnlyList<Finding> Findings, BenchmarkReport Report,
    PositionAnalysis Positions, SpeedReport? Speed, IReadOnlyList<MultiTurnRow> MultiTurn, RunSummary Sweep, TimeSpan Elapsed);

/// <summary>`tokensieve rethink`: the rethinking paper's protocol end to end on one model and dataset —
/// every method of <see cref="RethinkPlan"/> at the budgets, the α sweep, multi-turn where questions
/// share images, position statistics, fused against eager timing — then the findings f1–f8 with their
/// verdicts (<see cref="Findings"/>). Answers go to a resumable results file in the output folder.</summary>
public static class Rethink
{
    public static async Task<RethinkResult> RunAsync(LlavaModel model, SentencePieceBpeTokenizer tokenizer, ChatTemplate template, AspectMode aspect,
        IReadOnlyList<EvalDataset> datasets, string dataName, RethinkOptions options, string outputFolder, ComputeContext compute, int maxNewTokens = 16,
        IProgress<string>? progress = null, IProgress<RunProgress>? runProgress = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var cfg = model.Config;
        var plan = RethinkPlan.For(cfg.Vision.GridSize, cfg.Vision.GridSize, cfg.Text.NumHiddenLayers, options);
        Directory.CreateDirectory(outputFolder);
        string results = Path.Combine(outputFolder, "results.jsonl");

        var run = datasets.ToList();
        var scored = datasets.ToList();
        var pairedTasks = new List<(string Single, string Turn2)>();
        if (options.MultiTurn)
            foreach (var ds in datasets)
            {
                var pairs = MultiTurn.Pair(ds);
                if (pairs.Turn2.Items.Count == 0) continue;
                run.Add(pairs.Turn2);
                scored.AddRange([pairs.Turn1, pairs.Turn2]);
                pairedTasks.Add((ds.Task, pairs.Turn2.Task));
            }
        var planned = plan.Specs.Concat(plan.AlphaSpecs).ToList();
        // Methods that take one image per prompt (the catalog says which) would stop the run at the first
        // multi-image item (Visual Haystack); leave them out and say so.
        if (datasets.Any(d => d.Items.Any(i => i.ImagePaths.Count > 1)))
        {
            var single = planned.Where(x => MethodCatalog.ForSpec(x)?.OneImagePerPrompt == true).ToList();
            if (single.Count > 0)
            {
                progress?.Report($"the data has prompts with several images: leaving out {string.Join(", ", single)} (one image per prompt only)");
                planned = planned.Except(single).ToList();
            }
        }
        var specs = MethodSpec.Expand(planned, []);
        var answerer = new EngineAnswerer(new LlavaPipeline(model, compute), tokenizer, template, aspect, maxNewTokens);
        answerer.Prepare(specs.Select(s => s.Spec));
        progress?.Report($"answering {specs.Count} configurations x {run.Sum(d => d.Items.Count)} items (resumable: {results})");
        var summary = await EvalRunner.RunAsync(run, specs, results, answerer.Answer,
            new SweepOptions { ModelId = Path.GetFileName(Path.GetFullPath(model.Directory).TrimEnd('/')) }, runProgress, cancel).ConfigureAwait(false);

        var issues = new List<ReadIssue>();
        var records = ResultsFile.Read(results, issues);
        var scores = scored.SelectMany(d => PredictionScoring.Score(d, records.Where(r => r.Task == d.Task && r.Attention is null))).ToList();
        var report = new BenchmarkReport(scores, title: $"rethink: {dataName}");
        var positions = PositionAnalysis.From(records, issues);

        progress?.Report("timing fused against eager attention...");
        var speed = SpeedHarness.Run(model, compute, new SpeedOptions
        {
            Methods = plan.SpeedSpecs, Budgets = [], Runs = options.SpeedRuns, DecodeTokens = 1, AttentionModes = [AttentionMode.Fused, AttentionMode.Eager],
        }, progress, cancel);

        var multi = new List<MultiTurnRow>();
        foreach (var (single, turn2) in pairedTasks)
            foreach (var s2 in scores.Where(s => s.Task == turn2))
            {
                var s1 = scores.FirstOrDefault(s => s.Task == single && s.Spec == s2.Spec);
                if (s1 is null) continue;
                // The same questions asked alone and as a second turn: pair them by source question id.
                var asked = s2.Dataset!.Items.Where(i => s2.Predictions!.ContainsKey(i.QuestionId)).ToList();
                var single2 = s2.Dataset with { Items = asked };
                var singleTexts = asked.Where(i => s1.Predictions!.ContainsKey(i.SourceId!)).ToDictionary(i => i.QuestionId, i => s1.Predictions![i.SourceId!]);
                PairedComparison? c = singleTexts.Count > 0 ? PairedStatistics.Compare(single2, "turn 2", s2.Predictions!, "single turn", singleTexts, s2.Score.Parsing) : null;
                multi.Add(new MultiTurnRow(single, s2.Spec, s1.Score.Main, s2.Score.Main, c));
            }

        var findings = Findings.Evaluate(new FindingInputs(plan, scores, records, speed));
        return new RethinkResult(Path.GetFileName(Path.GetFullPath(model.Directory).TrimEnd('/')), dataName, datasets.Sum(d => d.Items.Count), plan, findings, report,
            positions, speed, multi, summary, clock.Elapsed);
    }

    public static string ToJson(RethinkResult r) => JsonSerializer.Serialize(new
    {
        model = r.ModelName,
        data = r.DataName,
        items = r.Items,
        runtime_s = Math.Round(r.Elapsed.TotalSeconds, 1),
        budgets = r.Plan.WindowSide.Keys,
        findings = r.Findings.Select(f => new
        {
            id = f.Id, statement = f.Statement, verdict = f.Verdict, effect = Json(f.Effect), ci95 = new[] { Json(f.Ci95.Low), Json(f.Ci95.High) }, n = f.N,
            evidence = f.Evidence, rule = f.Rule,
        }),
    }, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    static double? Json(double x) => double.IsFinite(x) ? Math.Round(x, 4) : null;

    public static string ToMarkdown(RethinkResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# Are token-pruning methods solving the right problem? — {r.DataName} on `{r.ModelName}`").AppendLine();
        sb.Append(string.Create(inv, $"{r.Items} questions, budgets {string.Join(", ", r.Plan.WindowSide.Keys)} visual tokens, decoder probes at layer K = {r.Plan.Layer}, α swept at {r.Plan.AlphaBudget} tokens; "));
        sb.Append(string.Create(inv, $"{r.Sweep.Total} answers ({r.Sweep.Resumed} resumed), {r.Elapsed.TotalMinutes:0.0} min. "));
        sb.AppendLine("Verdicts follow the rules below each finding; intervals are 95 % bootstraps paired by item (see the report's statistics section).");
        sb.AppendLine();
        sb.AppendLine("| id | claim | verdict | effect | 95% CI | n |");
        sb.AppendLine("|---|---|---|---:|---:|---:|");
        foreach (var f in r.Findings)
            sb.AppendLine($"| {f.Id} | {f.Statement} | **{f.Verdict}** | {(double.IsFinite(f.Effect) ? f.Effect.ToString("0.###", inv) : "–")} | {(double.IsFinite(f.Ci95.Low) ? f.Ci95.ToString() : "–")} | {f.N} |");
        sb.AppendLine();
        foreach (var f in r.Findings)
        {
            sb.AppendLine($"### {f.Id}: {f.Statement} — {f.Verdict}").AppendLine();
            sb.AppendLine(f.Evidence).AppendLine();
            sb.AppendLine($"*Rule:* {f.Rule}.").AppendLine();
        }
        sb.AppendLine("## Scores").AppendLine();
        sb.AppendLine("| method | " + string.Join(" | ", r.Report.Tasks) + " |");
        sb.AppendLine("|---|" + string.Concat(r.Report.Tasks.Select(_ => "---:|")));
        foreach (var row in r.Report.Rows)
            sb.AppendLine($"| `{row.Spec}` | " + string.Join(" | ", r.Report.Tasks.Select(t => r.Report.Estimates.TryGetValue((t, row.Spec), out var e)
                ? $"{e.Value.ToString("0.0", inv)} {e.Ci95}" : row.MainByTask.TryGetValue(t, out double v) ? v.ToString("0.0", inv) : "–")) + " |");
        if (r.MultiTurn.Count > 0)
        {
            sb.AppendLine().AppendLine("## Multi-turn (METHODS.md §15.5)").AppendLine();
            sb.AppendLine("The same questions asked alone and as the second turn after another question about the same image (the pruned cache of turn 1 reused).").AppendLine();
            sb.AppendLine("| task | method | single turn | turn 2 | turn 2 − single [95% CI] | p |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var m in r.MultiTurn)
                sb.AppendLine(string.Create(inv, $"| {m.Task} | `{m.Spec}` | {m.SingleTurn:0.0} | {m.SecondTurn:0.0} | {(m.Comparison is { } c ? $"{c.Difference:0.0} {c.Ci95}" : "–")} | {(m.Comparison is { } p ? p.PValue.ToString("0.###", inv) : "–")} |"));
        }
        if (r.Speed is not null)
        {
            sb.AppendLine().AppendLine("## Fused against eager attention (METHODS.md §15.4)").AppendLine();
            sb.Append(r.Speed.ToMarkdown());
        }
        sb.AppendLine().AppendLine("Files: `report.md` (every score with intervals and paired tests), `analysis.md` (position statistics and heatmaps), `results.jsonl` (every answer).");
        return sb.ToString();
    }
}
