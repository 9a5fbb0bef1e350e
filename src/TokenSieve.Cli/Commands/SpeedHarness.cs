using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using TokenSieve.Cost;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve bench --speed`: end-to-end timing of each method on one model (use `synth`
/// for real shapes). Per configuration: vision, reduction, prefill, time to first token, decode
/// tokens/s, peak RSS, FLOPs; median of --runs runs with min–max spread; plus the prefill
/// speed-up against the FLOPs ratio and the prefill efficiency against the peak measured in the
/// same process.</summary>
public static class SpeedHarness
{
    static readonly Option<int> Runs = new("--runs") { Description = "--speed: timed runs per configuration (after one warm-up)", DefaultValueFactory = _ => 3 };
    static readonly Option<int> TextTokens = new("--text-tokens") { Description = "--speed: text tokens around the image (LLaVA-1.5 prompts: ~64)", DefaultValueFactory = _ => 64 };
    static readonly Option<int> DecodeTokens = new("--decode-tokens") { Description = "--speed: tokens to decode after the prefill", DefaultValueFactory = _ => 8 };
    static readonly Option<string?> Csv = new("--csv") { Description = "--speed: also write the table as CSV here" };
    static readonly Option<string?> Markdown = new("--md") { Description = "--speed: also write the Markdown table here" };

    public static void AddOptions(Command cmd)
    {
        cmd.Options.Add(Runs);
        cmd.Options.Add(TextTokens);
        cmd.Options.Add(DecodeTokens);
        cmd.Options.Add(Csv);
        cmd.Options.Add(Markdown);
    }

    /// <summary>The default configurations: none, each main method at every budget (adaptive ones
    /// also at their fixed-budget form, so they compare at equal token counts), the adaptive ones once.</summary>
    public static IReadOnlyList<string> DefaultSpecs(IReadOnlyList<int> budgets, int decoderLayers) =>
        budgets.SelectMany(b => MethodCatalog.MainSpecs(b, decoderLayers)
                .Concat(MethodCatalog.Entries.Where(e => e is { Main: true, Budget: BudgetKind.Adaptive, AtBudget: not null }).Select(e => e.AtBudget!(b))))
            .Distinct().ToList();

    sealed record Sample(double VisionMs, double ReductionMs, double PrefillMs, double TtftMs, double DecodeTokPerS, int VisualTokens, double Flops, double PrefillFlops);

    public static int Run(ParseResult p, string? modelDir, int threads, CancellationToken cancel)
    {
        if (modelDir is null) throw new InvalidInputException("--speed needs --model (make one with `tokensieve synth --shape tiny-1b --out DIR`)");
        int runs = p.GetValue(Runs), textTokens = p.GetValue(TextTokens), decode = p.GetValue(DecodeTokens);
        if (runs < 1) throw new InvalidInputException("--runs must be >= 1");
        if (textTokens < 2) throw new InvalidInputException("--text-tokens must be >= 2");
        var budgets = BenchCommand.ParseBudgets(p.GetValue<string?>("--budgets") ?? "192,128,64");
        var compute = CommonOptions.Compute(threads);
        using var m = CommonOptions.LoadModel(modelDir, false, null);
        var cfg = m.Config;
        var requested = BenchCommand.SplitMethods(p.GetValue<string[]>("--methods") ?? ["none"]).ToList();
        var specs = requested.Count == 1 && requested[0] == "none" ? DefaultSpecs(budgets.Count > 0 ? budgets : [192, 128, 64], cfg.Text.NumHiddenLayers)
            : TokenSieve.Evaluation.MethodSpec.Expand(requested, budgets.Count > 0 ? budgets : [192, 128, 64]).Select(s => s.Spec).ToList();
        var methods = specs.Select(s => (Spec: s, Method: MethodPlan.Parse(s))).ToList();

        Console.WriteLine($"measuring peak FLOP/s with {compute.Threads} thread(s)...");
        double peak = MachineProbe.PeakFlops(compute.Threads);
        var pipeline = new LlavaPipeline(m, compute);
        var rng = new Random(7);
        int s = cfg.Vision.ImageSize;
        var pixels = new float[cfg.Vision.NumChannels * s * s];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        var ids = new int[textTokens + 1];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(3, Math.Min(cfg.Text.VocabSize, 32000));
        ids[0] = cfg.Text.BosTokenId;
        int slot = Math.Min(35, textTokens - 1);
        ids[slot] = cfg.ImageTokenIndex;

        var rows = new List<(string Spec, List<Sample> Samples)>();
        foreach (var (spec, method) in methods)
        {
            cancel.ThrowIfCancellationRequested();
            var samples = new List<Sample>();
            for (int r = 0; r <= runs; r++)
            {
                var result = pipeline.Run(pixels, ids, slot, new RunOptions
                {
                    Reducer = method.Reducer, Pruner = method.Pruner, Seed = 1,
                    Generation = new GenerationOptions { MaxNewTokens = decode, EosTokenId = -1 },
                }, cancel: cancel);
                var rep = result.Report;
                if (r == 0) continue; // warm-up: JIT, page faults of first-touched weights
                samples.Add(new Sample(rep.VisionMs, rep.ReductionMs, rep.PrefillMs, rep.TimeToFirstTokenMs, rep.DecodeTokensPerSecond, rep.VisualTokens,
                    rep.VisionFlops + rep.ProjectorFlops + rep.PrefillFlops, rep.PrefillFlops));
            }
            rows.Add((spec, samples));
            Console.WriteLine($"{spec}: prefill {Median(samples.Select(x => x.PrefillMs)):F1} ms, visual tokens {samples[0].VisualTokens}");
        }

        var baseline = rows.First(r => r.Spec == "none" || methods.First().Spec == r.Spec);
        double basePrefill = Median(baseline.Samples.Select(x => x.PrefillMs)), baseFlops = baseline.Samples[0].PrefillFlops;
        var md = new StringBuilder();
        md.AppendLine($"model `{Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/'))}` ({cfg.Vision.NumPatches} patches, decoder {cfg.Text.NumHiddenLayers}x{cfg.Text.HiddenSize}, {m.Weights.Get(TokenSieve.Checkpoints.TensorNames.EmbedTokens).DType}), threads {compute.Threads}, " +
            $"{runs} runs (median, min–max), {textTokens} text tokens, {decode} decode tokens; measured peak {peak / 1e9:F1} GFLOP/s");
        md.AppendLine();
        md.AppendLine("| spec | visual tokens | vision ms | reduction ms | prefill ms | TTFT ms | decode tok/s | prefill GFLOP | speed-up | FLOPs ratio | speed-up / FLOPs ratio | prefill efficiency | peak RSS |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        var csv = new StringBuilder("spec,visual_tokens,vision_ms,reduction_ms,prefill_ms,prefill_ms_min,prefill_ms_max,ttft_ms,decode_tok_s,prefill_flops,speedup,flops_ratio,efficiency,threads\n");
        long peakRss = ProcessMemory.PeakResident;
        foreach (var (spec, sm) in rows)
        {
            double prefill = Median(sm.Select(x => x.PrefillMs));
            double speedup = basePrefill / prefill, flopsRatio = baseFlops / sm[0].PrefillFlops;
            double efficiency = sm[0].PrefillFlops / (prefill / 1000) / peak;
            md.AppendLine($"| `{spec}` | {sm[0].VisualTokens} | {Spread(sm.Select(x => x.VisionMs))} | {Median(sm.Select(x => x.ReductionMs)):F2} | {Spread(sm.Select(x => x.PrefillMs))} | " +
                $"{Median(sm.Select(x => x.TtftMs)):F1} | {Median(sm.Select(x => x.DecodeTokPerS)):F1} | {sm[0].PrefillFlops / 1e9:F1} | {speedup:F2}x | {flopsRatio:F2}x | {speedup / flopsRatio:F2} | {efficiency:P0} | {CommonOptions.Bytes(peakRss)} |");
            csv.AppendLine(string.Join(",", new object[] { spec.Replace(',', ';'), sm[0].VisualTokens, Median(sm.Select(x => x.VisionMs)), Median(sm.Select(x => x.ReductionMs)), prefill,
                sm.Min(x => x.PrefillMs), sm.Max(x => x.PrefillMs), Median(sm.Select(x => x.TtftMs)), Median(sm.Select(x => x.DecodeTokPerS)), sm[0].PrefillFlops,
                speedup, flopsRatio, efficiency, compute.Threads }.Select(o => Convert.ToString(o, CultureInfo.InvariantCulture))));
        }
        md.AppendLine();
        md.AppendLine("speed-up and FLOPs ratio are against `none` (prefill only); prefill efficiency = prefill FLOPs / prefill time / measured peak; peak RSS is the process high-water mark.");
        Console.WriteLine();
        Console.Write(md.ToString());
        if (p.GetValue(Markdown) is { } mdPath) File.WriteAllText(mdPath, md.ToString());
        if (p.GetValue(Csv) is { } csvPath) File.WriteAllText(csvPath, csv.ToString());
        return 0;
    }

    static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length == 0 ? 0 : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    static string Spread(IEnumerable<double> values)
    {
        var v = values.ToArray();
        return $"{Median(v):F1} ({v.Min():F1}–{v.Max():F1})";
    }
}
