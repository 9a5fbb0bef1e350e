using System.CommandLine;
using Spectre.Console;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve bench`: sweeps methods × budgets over a dataset with resumable JSONL
/// results and a report; `--speed` runs the end-to-end speed harness instead.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        var methods = new Option<string[]>("--methods")
        {
            Description = "method specs separated by ';' (or repeat the option); a bare name takes each budget (pool → pool:64, pool:128); '{budget}' is substituted (fastv:k=2,keep={budget}); VISION|PRUNER combines both sides",
            DefaultValueFactory = _ => ["none"],
            AllowMultipleArgumentsPerToken = true,
        };
        var budgets = new Option<string?>("--budgets") { Description = "comma-separated budgets, e.g. 64,128,192" };
        var output = new Option<string>("--out") { Description = "results JSONL (appended; a re-run resumes)", DefaultValueFactory = _ => "results.jsonl" };
        var report = new Option<string?>("--report") { Description = "write report.md/.csv/.html with charts into this folder when done" };
        var limit = new Option<int?>("--limit") { Description = "first N items of each task" }.Range(1, int.MaxValue);
        var shard = new Option<string?>("--shard") { Description = "i/n: this process's contiguous slice (use one --out per shard)" };
        var seed = new Option<int>("--seed") { Description = "run seed (per-item seeds derive from it)", DefaultValueFactory = _ => 0 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "answer length limit", DefaultValueFactory = _ => 16 }.Range(1, 1 << 16);
        var template = RunCommand.TemplateOption();
        var aspect = RunCommand.AspectOption("pad");
        var parsing = new Option<string>("--parsing") { Description = "answer parsing for the report: llava or lmms-eval", DefaultValueFactory = _ => "llava" };
        var speed = new Option<bool>("--speed") { Description = "run the end-to-end speed harness (see `bench --speed --help` options below)" };
        var threads = CommonOptions.Threads();
        var weights = CommonOptions.WeightsFile();
        var mmproj = CommonOptions.Mmproj();
        var attention = CommonOptions.Attention(allowBoth: true);
        var multiTurn = new Option<bool>("--multi-turn") { Description = "also ask every question as the second turn of a conversation about its image, after another question about the same image (METHODS.md §15.5; pairing rule in docs/EVALUATION.md); turns are scored as <task>/turn1 and <task>/turn2" };
        var alphas = new Option<string?>("--alphas") { Description = "comma-separated alpha values substituted for {a} in method specs (the alpha sweep: --methods \"alpha:a={a},k=2,keep={budget}\" --alphas 0,0.1,0.2,0.3,0.5,0.7,0.8,0.9,1)" };
        var cmd = new Command("bench", "Sweep methods x budgets over a benchmark (resumable JSONL + report), or measure end-to-end speed with --speed.")
        {
            model, methods, budgets, output, report, limit, shard, seed, maxNew, template, aspect, parsing, speed, threads, attention, alphas, multiTurn, weights, mmproj,
        };
        var data = new DatasetArguments();
        data.AddTo(cmd);
        var speedOptions = new SpeedCommandOptions();
        speedOptions.AddTo(cmd);
        cmd.SetAction(async (p, cancel) =>
        {
            if (p.GetValue(speed) && p.GetValue(mmproj) is not null)
                throw new InvalidInputException("--mmproj is not supported with --speed (the speed harness takes model folders); run sweeps on the pair without --speed");
            if (p.GetValue(speed))
                return speedOptions.Run(p, p.GetValue(model), ExpandAlphas(SplitMethods(p.GetValue(methods)!), ParseAlphas(p.GetValue(alphas))), ParseBudgets(p.GetValue(budgets)),
                    p.GetValue(threads), p.GetValue(attention)!, cancel, p.GetValue(weights));
            var (datasets, _) = data.Load(p, cancel);
            string templateName = data.Template(p, template);
            string modelDir = data.IsLab(p) ? BuiltInModel.Resolve(p.GetValue(model))
                : p.GetValue(model) ?? throw new InvalidInputException("--model is required for a sweep");
            var scored = datasets.ToList();
            if (p.GetValue(multiTurn))
                foreach (var ds in datasets.ToList())
                {
                    var pairs = MultiTurn.Pair(ds);
                    if (pairs.Unpaired > 0) Console.Error.WriteLine($"{ds.Task}: {pairs.Unpaired} questions are alone on their image and get no second-turn conversation");
                    datasets.Add(pairs.Turn2);
                    scored.AddRange([pairs.Turn1, pairs.Turn2]);
                }
            var budgetList = ParseBudgets(p.GetValue(budgets));
            var specs = MethodSpec.Expand(SplitMethods(p.GetValue(methods)!), budgetList, ParseAlphas(p.GetValue(alphas)));
            var summary = await Sweep(modelDir, datasets, specs, p.GetValue(output)!, p.GetValue(limit), p.GetValue(shard), p.GetValue(seed),
                p.GetValue(maxNew), templateName, p.GetValue(aspect)!, p.GetValue(threads), CommonOptions.ParseAttention(p.GetValue(attention)!), cancel, p.GetValue(weights), p.GetValue(mmproj));
            Console.WriteLine($"{summary.Answered} answered, {summary.Resumed} already in {p.GetValue(output)}, {summary.Total} in the plan");
            var parse = ParseParsing(p.GetValue(parsing)!);
            var issues = new List<ReadIssue>();
            var all = PredictionScoring.ScoreRun(scored, p.GetValue(output)!, parse, issues);
            // The results file may hold earlier runs' configurations: report only this run's.
            var planned = specs.Select(s => s.Spec).ToHashSet(StringComparer.Ordinal);
            var scores = all.Where(s => planned.Contains(s.Spec.Split('@')[0])).ToList();
            if (scores.Count < all.Count)
                Console.Error.WriteLine($"note: {all.Count - scores.Count} other configuration(s) in {p.GetValue(output)} (earlier runs) are left out of this report; use a fresh --out to keep runs apart");
            ReportReadIssues(issues);
            PrintScores(scores);
            if (p.GetValue(report) is { } dir)
            {
                var files = ReportFiles.Write(new BenchmarkReport(scores) { ReadIssues = issues }, dir);
                Console.WriteLine($"report: {files.Markdown}, {files.Html}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>Unreadable results lines: how many, and the first few with their line numbers.</summary>
    public static void ReportReadIssues(IReadOnlyList<ReadIssue> issues)
    {
        if (issues.Count == 0) return;
        Console.Error.WriteLine($"warning: {issues.Count} line(s) of the results file could not be read and are not counted (a sweep answers their items again):");
        foreach (var issue in issues.Take(5)) Console.Error.WriteLine($"  {issue}");
        if (issues.Count > 5) Console.Error.WriteLine($"  ... and {issues.Count - 5} more");
    }

    public static IEnumerable<string> SplitMethods(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public static List<double> ParseAlphas(string? text)
    {
        var result = new List<double>();
        if (string.IsNullOrWhiteSpace(text)) return result;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double a) || a is < 0 or > 1)
                throw new InvalidInputException($"--alphas: '{part}' is not a number in [0, 1]");
            result.Add(a);
        }
        return result;
    }

    /// <summary>{a} in method specs expanded over the alphas (the speed harness takes plain spec lists).</summary>
    static List<string> ExpandAlphas(IEnumerable<string> methods, List<double> alphas) =>
        methods.SelectMany(m => m.Contains("{a}", StringComparison.Ordinal) && alphas.Count > 0
            ? alphas.Select(a => m.Replace("{a}", a.ToString("R", System.Globalization.CultureInfo.InvariantCulture))) : [m]).ToList();

    public static List<int> ParseBudgets(string? text)
    {
        var result = new List<int>();
        if (string.IsNullOrWhiteSpace(text)) return result;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, out int b) || b <= 0) throw new InvalidInputException($"--budgets: '{part}' is not a positive integer");
            result.Add(b);
        }
        return result;
    }

    public static AnswerParsing ParseParsing(string s) => s.ToLowerInvariant() switch
    {
        "llava" => AnswerParsing.Llava,
        "lmms-eval" or "lmmseval" or "lmms_eval" => AnswerParsing.LmmsEval,
        _ => throw new InvalidInputException($"--parsing must be llava or lmms-eval, got '{s}'"),
    };

    /// <summary>Runs the sweep with a progress display; every prediction is on disk before the next starts.</summary>
    public static async Task<RunSummary> Sweep(string modelDir, IReadOnlyList<EvalDataset> datasets, IReadOnlyList<MethodSpec> specs, string output,
        int? limit, string? shard, int seed, int maxNewTokens, string template, string aspect, int threads, AttentionMode attention, CancellationToken cancel,
        string? weights = null, string? mmproj = null)
    {
        IDisposable m;
        Answerer answer;
        if (mmproj is null && Qwen2VlCommands.Is(modelDir))
        {
            var q = Qwen2VlCommands.Load(modelDir, false, weights);
            m = q;
            var qa = new Qwen2VlAnswerer(new Qwen2VlPipeline(q, CommonOptions.Compute(threads, attention)), Qwen2Tokenizer.FromFolder(q.Directory), maxNewTokens);
            qa.Prepare(specs.Select(s => s.Spec));
            answer = qa.Answer;
        }
        else
        {
            var compute = CommonOptions.Compute(threads, attention);
            var l = CommonOptions.LoadModel(modelDir, false, weights, compute, mmproj);
            m = l;
            var tokenizer = l.CreateTokenizer();
            var pipeline = new LlavaPipeline(l, compute);
            var answerer = new EngineAnswerer(pipeline, tokenizer, ChatTemplate.Get(template), RunCommand.ParseAspect(aspect), maxNewTokens);
            answerer.Prepare(specs.Select(s => s.Spec));
            answer = answerer.Answer;
        }
        using var model = m;
        using var resumeNote = cancel.Register(() => Console.Error.WriteLine(
            $"interrupted: every answer made so far is in {output}; run the same command again to resume where it stopped"));
        var options = new SweepOptions
        {
            Seed = seed, Limit = limit, Shard = shard is null ? null : Shard.Parse(shard), ModelId = Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/')),
            Attention = attention == AttentionMode.Eager ? "eager" : null,
        };
        if (Console.IsOutputRedirected)
        {
            var lastPrint = DateTime.MinValue;
            var progress = new Progress<RunProgress>(r =>
            {
                if ((DateTime.UtcNow - lastPrint).TotalSeconds < 5 && r.Done < r.Total) return;
                lastPrint = DateTime.UtcNow;
                Console.WriteLine($"[{r.Done}/{r.Total}] {r.Spec} {r.QuestionId} elapsed {r.Elapsed:hh\\:mm\\:ss} eta {(r.Eta is { } eta ? eta.ToString(@"hh\:mm\:ss") : "–")}");
            });
            return await EvalRunner.RunAsync(datasets, specs, output, answer, options, progress, cancel);
        }
        RunSummary? summary = null;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask("answering", maxValue: 1);
                var progress = new Progress<RunProgress>(r =>
                {
                    bar.MaxValue = r.Total;
                    bar.Value = r.Done;
                    // Spectre refuses a blank description (the first report may name no task yet) and reads [..] as markup.
                    string what = $"{r.Task} {r.Spec}".Trim();
                    bar.Description = what.Length > 0 ? Markup.Escape(what) : "answering";
                });
                summary = await EvalRunner.RunAsync(datasets, specs, output, answer, options, progress, cancel);
                bar.Value = bar.MaxValue;
            });
        return summary!;
    }

    public static void PrintScores(IReadOnlyList<ConfigurationScore> scores)
    {
        var table = new Table().Border(TableBorder.Markdown).AddColumns("task", "spec", "score", "visual tokens", "prefill ms (median)", "FLOPs (mean)", "n");
        foreach (var s in scores)
            table.AddRow(Markup.Escape(s.Task), Markup.Escape(s.Spec), $"{CommonOptions.Number(s.Score.Main, "F2")} ({s.Score.MainMetric})", CommonOptions.Number(s.Cost.MeanVisualTokens, "F1"), CommonOptions.Number(s.Cost.MedianPrefillMs, "F1"),
                CommonOptions.Flops(s.Cost.MeanFlops), s.Cost.Count.ToString());
        CliConsole.Out.Write(table);
    }
}
