using System.CommandLine;
using Spectre.Console;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve rethink`: the rethinking paper's protocol end to end, with findings f1–f8.</summary>
public static class RethinkCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "model folder (default with --suite lab: the built-in lab model)";
        var budgets = new Option<string?>("--budgets") { Description = "comma-separated visual-token budgets (default: a quarter and a ninth of the patches)" };
        var alphas = new Option<string?>("--alphas") { Description = "the alpha sweep (default 0,0.1,0.2,0.3,0.5,0.7,0.8,0.9,1 as in the paper)" };
        var output = new Option<string>("--out") { Description = "folder for findings.md/.json, the report, the analysis and results.jsonl (a re-run resumes)", Required = true };
        var speedRuns = new Option<int>("--speed-runs") { Description = "timed runs per configuration and attention mode", DefaultValueFactory = _ => 5 }.Range(1, 1000);
        var noMultiTurn = new Option<bool>("--no-multi-turn") { Description = "skip the second-turn conversations" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "answer length limit", DefaultValueFactory = _ => 16 }.Range(1, 1 << 16);
        var template = RunCommand.TemplateOption();
        var aspect = RunCommand.AspectOption("pad");
        var threads = CommonOptions.Threads();
        var mmproj = CommonOptions.Mmproj();
        var cmd = new Command("rethink", "Run the rethinking paper's protocol (none, random, pool, FastV, window FastV, FastV_VIS, SparseVLM, FasterVLM, DART, DivPrune, PruMerge(+), the alpha sweep, multi-turn, position statistics, fused vs eager timing) and judge its findings f1-f8 with effects and confidence intervals.")
        {
            model, budgets, alphas, output, speedRuns, noMultiTurn, maxNew, template, aspect, threads, mmproj,
        };
        var data = new DatasetArguments();
        data.AddTo(cmd);
        cmd.SetAction(async (p, cancel) =>
        {
            var (datasets, dataName) = data.Load(p, cancel);
            string modelDir = data.IsLab(p) ? BuiltInModel.Resolve(p.GetValue(model)) : p.GetValue(model) ?? throw new InvalidInputException("--model is required with --task");
            var options = new RethinkOptions
            {
                Budgets = BenchCommand.ParseBudgets(p.GetValue(budgets)), SpeedRuns = p.GetValue(speedRuns), MultiTurn = !p.GetValue(noMultiTurn),
            };
            if (BenchCommand.ParseAlphas(p.GetValue(alphas)) is { Count: > 0 } a) options = options with { Alphas = a };
            if (options.SpeedRuns < 1) throw new InvalidInputException("--speed-runs must be >= 1");
            string folder = p.GetValue(output)!;
            using var m = CommonOptions.LoadModel(modelDir, false, null, mmproj: p.GetValue(mmproj));
            var tokenizer = m.CreateTokenizer();
            var compute = CommonOptions.Compute(p.GetValue(threads));
            var lastPrint = DateTime.MinValue;
            var runProgress = new Progress<RunProgress>(r =>
            {
                if ((DateTime.UtcNow - lastPrint).TotalSeconds < 10 && r.Done < r.Total) return;
                lastPrint = DateTime.UtcNow;
                Console.WriteLine($"[{r.Done}/{r.Total}] {r.Task} {r.Spec} elapsed {r.Elapsed:hh\\:mm\\:ss}" + (r.Eta is { } eta ? $" eta {eta:hh\\:mm\\:ss}" : ""));
            });
            var result = await Rethink.RunAsync(m, tokenizer, ChatTemplate.Get(data.Template(p, template)), RunCommand.ParseAspect(p.GetValue(aspect)!), datasets, dataName,
                options, folder, compute, p.GetValue(maxNew), ConsoleProgress.Instance, runProgress, cancel);
            ReportFiles.Write(result.Report, folder);
            AnalyzeCommand.Write(result.Positions, folder);
            File.WriteAllText(Path.Combine(folder, "findings.md"), Rethink.ToMarkdown(result));
            File.WriteAllText(Path.Combine(folder, "findings.json"), Rethink.ToJson(result));
            var table = new Table().Border(TableBorder.Rounded).AddColumns("id", "claim", "verdict", "effect", "95% CI", "n");
            foreach (var f in result.Findings)
                table.AddRow(f.Id, Markup.Escape(f.Statement), f.Verdict, double.IsFinite(f.Effect) ? f.Effect.ToString("0.###") : "–", Markup.Escape(double.IsFinite(f.Ci95.Low) ? f.Ci95.ToString() : "–"), f.N.ToString());
            CliConsole.Out.Write(table);
            Console.WriteLine($"findings: {Path.Combine(folder, "findings.md")} ({result.Elapsed.TotalMinutes:0.0} min)");
            return 0;
        });
        return cmd;
    }
}
