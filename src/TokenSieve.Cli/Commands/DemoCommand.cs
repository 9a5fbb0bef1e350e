using System.CommandLine;
using Spectre.Console;
using TokenSieve.Cli.Reports;
using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Lab.Evaluation;
using TokenSieve.Lab.Scenes;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve demo`: the main job on the built-in model. Built-in images (lab test scenes,
/// one per question family) are answered with all visual tokens and with each main method; a table
/// shows answer, correctness, visual tokens, prefill time, speed-up and FLOPs, and PNG overlays
/// show which patches each method kept.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        model.Description = "model folder (default: the built-in lab model, models/lab)";
        var budget = new Option<int?>("--budget") { Description = "visual-token budget of the budgeted methods (default: a quarter of the patches)" }.Range(1, 1 << 16);
        var methods = new Option<string[]?>("--methods") { Description = "method specs separated by ';' (default: none, prumerge, prumerge+, random, pool, fastervlm, visionzip, divprune, tome, fastv)", AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "folder for the overlay PNGs", DefaultValueFactory = _ => "demo-out" };
        var threads = CommonOptions.Threads();
        var template = RunCommand.TemplateOption();
        template.DefaultValueFactory = _ => ChatTemplate.LlavaHf.Name;
        var cmd = new Command("demo", "Answer questions about built-in images with no reduction and with the main methods; print a table and write overlays.")
        {
            model, budget, methods, output, threads, template,
        };
        cmd.SetAction((p, cancel) =>
        {
            string dir = BuiltInModel.Resolve(p.GetValue(model));
            using var m = CommonOptions.LoadModel(dir, false, null);
            var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(dir);
            var pipeline = new LlavaPipeline(m, CommonOptions.Compute(p.GetValue(threads)));
            var tpl = ChatTemplate.Get(p.GetValue(template)!);
            int patches = m.Config.Vision.NumPatches;
            int b = p.GetValue(budget) ?? Math.Max(1, patches / 4);
            var specs = p.GetValue(methods) is { Length: > 0 } given ? BenchCommand.SplitMethods(given).ToList() : MethodCatalog.MainSpecs(b, m.Config.Text.NumHiddenLayers);
            var parsed = specs.Select(s => (Spec: s, Method: MethodPlan.Parse(s))).ToList();
            string outDir = p.GetValue(output)!;
            Directory.CreateDirectory(outDir);

            var items = LabEvalDatasets.Load(LabSplit.Test, 1, cancel: cancel).Select(d => (d.Kind, Item: d.Items[0])).ToList();
            var console = CliConsole.Out;
            console.MarkupLine($"model [bold]{Markup.Escape(Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')))}[/]: {patches} patches, budget {b}; methods in panel order: {Markup.Escape(string.Join(", ", specs))}");
            int total = 0;
            var summary = specs.ToDictionary(s => s, _ => (Correct: 0, PrefillMs: 0.0, Flops: 0.0, Tokens: 0));
            foreach (var (kind, item) in items)
            {
                var image = ImageDecoder.Decode(item.ImageBytes!.Value.ToArray(), item.QuestionId);
                var prompt = LlavaPrompt.Build(tokenizer, tpl, item.Prompt, m.Config.ImageTokenIndex);
                var pixels = pipeline.Preprocess(image, AspectMode.Crop);
                var table = new Table().Border(TableBorder.Rounded)
                    .Title($"{Markup.Escape(item.Task)}: {Markup.Escape(item.Question)} [grey](expected: {Markup.Escape(item.Answers[0])})[/]")
                    .AddColumns("method", "answer", "correct", "visual tokens", "prefill ms", "speed-up", "prefill FLOPs");
                var panels = new List<RgbImage>();
                double basePrefill = 0;
                foreach (var (spec, method) in parsed)
                {
                    cancel.ThrowIfCancellationRequested();
                    // Warm-up once per method (JIT), then the timed run.
                    var run = () => pipeline.Run(pixels, prompt.Ids, prompt.ImageSlot, new RunOptions
                    {
                        Reducer = method.Reducer, Pruner = method.Pruner, Aspect = AspectMode.Crop, Seed = 1,
                        Generation = new GenerationOptions { MaxNewTokens = 8, EosTokenId = tokenizer.EosId },
                    }, ids => AnswerText.Decode(tokenizer, ids), cancel: cancel);
                    if (total == 0) run();
                    var result = run();
                    var r = result.Report;
                    if (spec == specs[0]) basePrefill = r.PrefillMs;
                    bool ok = Scoring.ItemScore(kind, item, result.Text ?? "") > 0;
                    var s = summary[spec];
                    summary[spec] = (s.Correct + (ok ? 1 : 0), s.PrefillMs + r.PrefillMs, s.Flops + r.PrefillFlops, s.Tokens + r.VisualTokens);
                    table.AddRow(Markup.Escape(spec), Markup.Escape(result.Text ?? ""), ok ? "[green]yes[/]" : "[red]no[/]", r.VisualTokens.ToString(),
                        $"{r.PrefillMs:F1}", $"{basePrefill / r.PrefillMs:F2}x", CommonOptions.Flops(r.PrefillFlops));
                    panels.Add(KeptPatchOverlay.Render(image, r.ReductionResult));
                }
                total++;
                console.Write(table);
                string file = Path.Combine(outDir, item.QuestionId.Replace('/', '_') + ".png");
                PngEncoder.Save(KeptPatchOverlay.Montage(panels), file);
                console.MarkupLine($"overlay: {Markup.Escape(file)}");
            }
            var totals = new Table().Border(TableBorder.Rounded).Title("all demo questions").AddColumns("method", "correct", "mean visual tokens", "mean prefill ms", "mean prefill FLOPs");
            foreach (var spec in specs)
            {
                var s = summary[spec];
                totals.AddRow(Markup.Escape(spec), $"{s.Correct}/{total}", $"{s.Tokens / (double)total:F1}", $"{s.PrefillMs / total:F1}", CommonOptions.Flops(s.Flops / total));
            }
            console.Write(totals);
            console.MarkupLine("Overlays: dark patches feed no token; orange shows how much a patch contributes; white frames mark kept patches or merge centres.");
            return Task.FromResult(0);
        });
        return cmd;
    }
}
