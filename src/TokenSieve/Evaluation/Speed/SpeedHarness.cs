using TokenSieve.Imaging;
using System.Globalization;
using System.Text;
using TokenSieve.Checkpoints;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;

namespace TokenSieve.Evaluation;

/// <summary>What the end-to-end speed harness measures.</summary>
public sealed record SpeedOptions
{
    /// <summary>Method specs (a bare budgeted name or <c>{budget}</c> takes each budget); empty: the
    /// catalog's main methods at every budget plus their adaptive forms.</summary>
    public IReadOnlyList<string> Methods { get; init; } = [];

    public IReadOnlyList<int> Budgets { get; init; } = [192, 128, 64];

    /// <summary>Timed runs per configuration, after one warm-up.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>How fixed vision budgets apply to LLaVA-NeXT tiles and video frames.</summary>
    public VisionBudgetScope VisionBudget { get; init; } = VisionBudgetScope.PerView;

    /// <summary>Video-LLaVA: frames of the measured video (0: an image instead).</summary>
    public int Frames { get; init; } = 8;

    /// <summary>Text tokens around the image (LLaVA-1.5 prompts: about 64).</summary>
    public int TextTokens { get; init; } = 64;

    public int DecodeTokens { get; init; } = 8;

    /// <summary>Each configuration runs once per mode (fused and eager side by side: METHODS.md §15.4).</summary>
    public IReadOnlyList<AttentionMode> AttentionModes { get; init; } = [AttentionMode.Fused];

    /// <summary>Text tokens after the image (the rest go before it); default: as in LLaVA-1.5's
    /// vicuna_v1 prompts, 35 before the image and the rest after.</summary>
    public int? TextBeforeImage { get; init; }

    /// <summary>Models that take any image size (Qwen2-VL): the side in pixels of the random square image,
    /// before the model's own resize rules. Default 672: 48×48 patches, 24×24 = 576 visual tokens after
    /// Qwen2-VL's 2×2 merge, as many as LLaVA-1.5's.</summary>
    public int? ImageSize { get; init; }
}

/// <summary>One configuration's timed runs.</summary>
public sealed record SpeedRow(string Spec, int VisualTokens, IReadOnlyList<RunReport> Runs, AttentionMode Attention = AttentionMode.Fused)
{
    public double PrefillFlops => Runs[0].PrefillFlops;

    public double MedianPrefillMs => SampleStats.Median(Runs.Select(r => r.PrefillMs));
}

/// <summary>The speed table: each configuration against <c>none</c>, with the peak measured in the
/// same process. <see cref="Shape"/> describes the model (visual tokens, decoder size).</summary>
public sealed record SpeedReport(string ModelName, string Shape, DType WeightType, int Threads, double PeakFlops, long PeakResidentBytes,
    SpeedOptions Options, IReadOnlyList<SpeedRow> Rows)
{
    /// <summary>The row of <c>none</c> in the same attention mode.</summary>
    SpeedRow Baseline(SpeedRow row) => Rows.FirstOrDefault(r => r.Spec == "none" && r.Attention == row.Attention) ?? Rows[0];

    bool BothModes => Rows.Select(r => r.Attention).Distinct().Count() > 1;

    string Label(SpeedRow r) => BothModes ? $"`{r.Spec}` ({r.Attention.ToString().ToLowerInvariant()})" : $"`{r.Spec}`";

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        var o = Options;
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"model `{ModelName}` ({Shape}, {WeightType}), threads {Threads}, " +
            $"{o.Runs} runs (median, min–max), {o.TextTokens} text tokens, {o.DecodeTokens} decode tokens; measured peak {PeakFlops / 1e9:F1} GFLOP/s"));
        md.AppendLine();
        md.AppendLine("| spec | visual tokens | vision ms | reduction ms | prefill ms | TTFT ms | decode tok/s | prefill GFLOP | speed-up | FLOPs ratio | speed-up / FLOPs ratio | prefill efficiency | peak RSS |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in Rows)
        {
            var r = row.Runs;
            double basePrefill = Baseline(row).MedianPrefillMs, baseFlops = Baseline(row).PrefillFlops;
            double prefill = row.MedianPrefillMs;
            double speedup = basePrefill / prefill, flopsRatio = baseFlops / row.PrefillFlops;
            double efficiency = row.PrefillFlops / (prefill / 1000) / PeakFlops;
            md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {Label(row)} | {row.VisualTokens} | {SampleStats.MedianWithRange(r.Select(x => x.VisionMs))} | {SampleStats.Median(r.Select(x => x.ReductionMs)):F2} | {SampleStats.MedianWithRange(r.Select(x => x.PrefillMs))} | " +
                $"{SampleStats.Median(r.Select(x => x.TimeToFirstTokenMs)):F1} | {SampleStats.Median(r.Select(x => x.DecodeTokensPerSecond)):F1} | {row.PrefillFlops / 1e9:F1} | {speedup:F2}x | {flopsRatio:F2}x | {speedup / flopsRatio:F2} | {efficiency:P0} | {Bytes(PeakResidentBytes)} |"));
        }
        md.AppendLine();
        md.AppendLine("speed-up and FLOPs ratio are against `none` in the same attention mode (prefill only); prefill efficiency = prefill FLOPs / prefill time / measured peak; peak RSS is the process high-water mark.");
        if (BothModes)
        {
            md.AppendLine();
            md.AppendLine("| spec | prefill ms fused | prefill ms eager | eager / fused | speed-up fused | speed-up eager |");
            md.AppendLine("|---|---|---|---|---|---|");
            foreach (var fused in Rows.Where(r => r.Attention == AttentionMode.Fused))
            {
                var eager = Rows.FirstOrDefault(r => r.Attention == AttentionMode.Eager && r.Spec == fused.Spec);
                if (eager is null) continue;
                md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| `{fused.Spec}` | {fused.MedianPrefillMs:F1} | {eager.MedianPrefillMs:F1} | {eager.MedianPrefillMs / fused.MedianPrefillMs:F2}x | {Baseline(fused).MedianPrefillMs / fused.MedianPrefillMs:F2}x | {Baseline(eager).MedianPrefillMs / eager.MedianPrefillMs:F2}x |"));
            }
        }
        return md.ToString();
    }

    public string ToCsv()
    {
        var csv = new StringBuilder("spec,attention,visual_tokens,vision_ms,reduction_ms,prefill_ms,prefill_ms_min,prefill_ms_max,ttft_ms,decode_tok_s,prefill_flops,speedup,flops_ratio,efficiency,threads\n");
        foreach (var row in Rows)
        {
            var r = row.Runs;
            double basePrefill = Baseline(row).MedianPrefillMs, baseFlops = Baseline(row).PrefillFlops;
            double prefill = row.MedianPrefillMs;
            csv.AppendLine(string.Join(",", new object[]
            {
                row.Spec.Replace(',', ';'), row.Attention.ToString().ToLowerInvariant(), row.VisualTokens, SampleStats.Median(r.Select(x => x.VisionMs)), SampleStats.Median(r.Select(x => x.ReductionMs)), prefill,
                r.Min(x => x.PrefillMs), r.Max(x => x.PrefillMs), SampleStats.Median(r.Select(x => x.TimeToFirstTokenMs)), SampleStats.Median(r.Select(x => x.DecodeTokensPerSecond)),
                row.PrefillFlops, basePrefill / prefill, baseFlops / row.PrefillFlops, row.PrefillFlops / (prefill / 1000) / PeakFlops, Threads,
            }.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
        }
        return csv.ToString();
    }

    static string Bytes(double bytes) => bytes >= 1L << 30 ? $"{bytes / (1L << 30):F2} GiB" : $"{bytes / (1L << 20):F1} MiB";
}

/// <summary>End-to-end timing of each method on one model (use `synth` for real shapes): vision,
/// reduction, prefill, time to first token, decode tokens/s per configuration, on random pixels and
/// a random prompt with one image slot; a first pass over every configuration warms up (JIT, first
/// touch of the weights) and is not counted; the timed runs go round-robin over the configurations.</summary>
public static class SpeedHarness
{
    /// <summary>The default configurations: each main method at every budget (adaptive ones also at
    /// their fixed-budget form, so they compare at equal token counts), the adaptive ones once.</summary>
    public static IReadOnlyList<string> DefaultSpecs(IReadOnlyList<int> budgets, int decoderLayers) =>
        budgets.SelectMany(b => MethodCatalog.MainSpecs(b, decoderLayers)
                .Concat(MethodCatalog.Entries.Where(e => e is { Main: true, Budget: BudgetKind.Adaptive, AtBudget: not null }).Select(e => e.AtBudget!(b))))
            .Distinct().ToList();

    /// <summary>The visual input of the measurement, from random pixels: one view (LLaVA-1.5); for
    /// LLaVA-NeXT an image the size of its largest anyres resolution (the most tiles: 672x672 →
    /// base + 2x2 tiles on llava-v1.6); for Video-LLaVA a video of <see cref="SpeedOptions.Frames"/> frames.</summary>
    static PreparedVisual Input(LlavaPipeline pipeline, SpeedOptions options, Random rng)
    {
        var cfg = pipeline.Model.Config;
        RgbImage RandomImage(int w, int h)
        {
            var im = new RgbImage(w, h);
            rng.NextBytes(im.Pixels);
            return im;
        }
        if (cfg.VideoTokenIndex is not null && options.Frames > 0)
            return pipeline.PrepareVideo(Enumerable.Range(0, options.Frames).Select(_ => RandomImage(cfg.Vision.ImageSize, cfg.Vision.ImageSize)).ToList());
        if (cfg.Variant == LlavaVariant.LlavaNext)
        {
            var largest = cfg.ImageGridPinpoints.MaxBy(p => (long)p.Height * p.Width);
            return pipeline.Prepare(RandomImage(largest.Width, largest.Height), AspectMode.Crop);
        }
        int size = cfg.Vision.ImageSize;
        var pixels = new float[cfg.Vision.NumChannels * size * size];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        return PreparedVisual.Image(pixels);
    }

    public static SpeedReport Run(LlavaModel model, ComputeContext compute, SpeedOptions options, IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        Check(options);
        var cfg = model.Config;
        var specs = Specs(options, cfg.Text.NumHiddenLayers);
        var pipelines = options.AttentionModes.Distinct().ToDictionary(m => m, m => new LlavaPipeline(model, new ComputeContext(compute.Threads, m)));
        var rng = new Random(7);
        var visual = Input(pipelines.Values.First(), options, rng);
        var ids = new int[options.TextTokens + 1];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(3, Math.Min(cfg.Text.VocabSize, 32000));
        ids[0] = cfg.Text.BosTokenId;
        int slot = Math.Min(options.TextBeforeImage ?? 35, options.TextTokens - 1);
        ids[slot] = visual.Kind == VisualKind.Video ? cfg.VideoTokenIndex!.Value : cfg.ImageTokenIndex;
        var (rows, peak) = Measure(specs, options, compute.Threads, (plan, mode) => pipelines[mode].Run([visual], ids, [slot], new RunOptions
        {
            Reducer = plan.Reducer, Pruner = plan.Pruner, Seed = 1, VisionBudget = options.VisionBudget,
            Generation = new GenerationOptions { MaxNewTokens = options.DecodeTokens, EosTokenId = -1 },
        }, cancel: cancel).Report, progress, cancel);
        string views = cfg.Variant switch
        {
            LlavaVariant.LlavaNext => $"{LlavaConfig.ModelTypeOf(cfg.Variant)}, anyres image at its largest resolution, {cfg.Vision.NumPatches} patches per view",
            LlavaVariant.VideoLlava when options.Frames > 0 => $"{LlavaConfig.ModelTypeOf(cfg.Variant)}, {options.Frames}-frame video, {cfg.VideoTokensPerFrame} rows per frame",
            _ => $"{cfg.Vision.NumPatches} patches",
        };
        string budget = cfg.Variant == LlavaVariant.Llava && options.Frames == 0 ? "" : options.VisionBudget == VisionBudgetScope.PerInput ? "; vision budgets per input" : "; vision budgets per view";
        return new SpeedReport(Path.GetFileName(Path.GetFullPath(model.Directory).TrimEnd('/')),
            $"{views}, decoder {cfg.Text.NumHiddenLayers}x{cfg.Text.HiddenSize}{budget}", model.WeightType, compute.Threads,
            peak, ProcessMemory.PeakResident, options, rows);
    }

    internal static void Check(SpeedOptions options)
    {
        if (options.Runs < 1) throw new InvalidInputException($"runs must be >= 1, got {options.Runs}");
        if (options.TextTokens < 2) throw new InvalidInputException($"text tokens must be >= 2, got {options.TextTokens}");
        if (options.DecodeTokens < 0) throw new InvalidInputException($"decode tokens must be >= 0, got {options.DecodeTokens}");
    }

    /// <summary>The configurations to measure, <c>none</c> first.</summary>
    internal static List<string> Specs(SpeedOptions options, int decoderLayers)
    {
        var budgets = options.Budgets.Count > 0 ? options.Budgets : [192, 128, 64];
        var specs = options.Methods.Count == 0 || options.Methods is ["none"]
            ? DefaultSpecs(budgets, decoderLayers).ToList()
            : MethodSpec.Expand(options.Methods, budgets).Select(s => s.Spec).ToList();
        return specs.Contains("none") ? specs : ["none", .. specs];
    }

    /// <summary>Runs every configuration in every attention mode: one warm-up pass over all of them first
    /// (JIT tiers, first touch of weights and buffers), then the timed runs round-robin, so slow drift of
    /// the machine spreads over all configurations alike instead of favouring the ones measured last.
    /// The machine's peak FLOP/s is measured first, in the same process.</summary>
    internal static (List<SpeedRow> Rows, double PeakFlops) Measure(IReadOnlyList<string> specs, SpeedOptions options, int threads, Func<MethodPlan, AttentionMode, RunReport> run,
        IProgress<string>? progress, CancellationToken cancel)
    {
        var plans = specs.Select(s => (Spec: s, Plan: MethodPlan.Parse(s))).ToList();
        progress?.Report($"measuring peak FLOP/s with {threads} thread(s)...");
        double peak = MachineProbe.PeakFlops(threads);
        var configs = plans.SelectMany(p => options.AttentionModes.Distinct().Select(m => (p.Spec, p.Plan, Mode: m))).ToList();
        var runs = configs.Select(_ => new List<RunReport>()).ToList();
        for (int r = 0; r <= options.Runs; r++)
            for (int c = 0; c < configs.Count; c++)
            {
                cancel.ThrowIfCancellationRequested();
                progress?.Report($"{(r == 0 ? "warm-up" : $"run {r}/{options.Runs}")}, {c + 1}/{configs.Count}: {configs[c].Spec} ({configs[c].Mode.ToString().ToLowerInvariant()})");
                var report = run(configs[c].Plan, configs[c].Mode);
                if (r > 0) runs[c].Add(report);
            }
        var rows = new List<SpeedRow>();
        for (int c = 0; c < configs.Count; c++)
        {
            var row = new SpeedRow(configs[c].Spec, runs[c][0].VisualTokens, runs[c], configs[c].Mode);
            rows.Add(row);
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"{row.Spec} ({row.Attention.ToString().ToLowerInvariant()}): prefill {row.MedianPrefillMs:F1} ms, visual tokens {row.VisualTokens}"));
        }
        return (rows, peak);
    }
}
