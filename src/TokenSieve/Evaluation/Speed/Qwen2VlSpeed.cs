using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Reduction;

namespace TokenSieve.Evaluation;

/// <summary>The end-to-end speed harness (<see cref="SpeedHarness"/>: warm-up, round-robin timed runs,
/// medians with their range, FLOPs from the tokens that ran) on a Qwen2-VL model: one random square
/// image of <see cref="SpeedOptions.ImageSize"/> px through the processor's resize rules, a random
/// prompt with the image between <c>&lt;|vision_start|&gt;</c> and <c>&lt;|vision_end|&gt;</c>. Budgets count
/// merged visual tokens; the shape line states the patches before the merge. Default configurations
/// that cannot run on Qwen2-VL (docs/models/qwen2-vl.md) are skipped and reported.</summary>
public static class Qwen2VlSpeed
{
    public const int DefaultImageSize = 672;

    public static SpeedReport Run(Qwen2VlModel model, ComputeContext compute, SpeedOptions options, IProgress<string>? progress = null, CancellationToken cancel = default)
    {
        SpeedHarness.Check(options);
        var cfg = model.Config;
        var specs = SpeedHarness.Specs(options, cfg.Text.NumHiddenLayers);
        if (options.Methods.Count == 0 || options.Methods is ["none"])
            specs = specs.Where(s => Applicable(s, progress)).ToList();
        var pipelines = options.AttentionModes.Distinct().ToDictionary(m => m, m => new Qwen2VlPipeline(model, new ComputeContext(compute.Threads, m)));
        int side = options.ImageSize ?? DefaultImageSize;
        if (side < 1) throw new InvalidInputException($"image size must be positive, got {side}");
        var rng = new Random(7);
        var pixels = new byte[side * side * 3];
        rng.NextBytes(pixels);
        var image = pipelines.Values.First().Prepare(new RgbImage(side, side, pixels));

        int text = options.TextTokens, before = Math.Clamp(options.TextBeforeImage ?? 35, 1, text - 1);
        var special = new HashSet<int> { cfg.ImageTokenId, cfg.VideoTokenId, cfg.VisionStartTokenId, cfg.VisionEndTokenId, cfg.Text.EosTokenId };
        int Word()
        {
            int id;
            do id = rng.Next(0, Math.Min(cfg.Text.VocabSize, cfg.VisionStartTokenId)); while (special.Contains(id));
            return id;
        }
        // text before the image ends with <|vision_start|>; <|vision_end|> opens the text after it.
        var ids = new List<int>();
        for (int i = 0; i < before - 1; i++) ids.Add(Word());
        ids.Add(cfg.VisionStartTokenId);
        ids.Add(cfg.ImageTokenId);
        ids.Add(cfg.VisionEndTokenId);
        for (int i = before + 1; i < text; i++) ids.Add(Word());
        var prompt = ids.ToArray();

        var (rows, peak) = SpeedHarness.Measure(specs, options, compute.Threads, (plan, mode) => pipelines[mode].Run([image], prompt, new RunOptions
        {
            Reducer = plan.Reducer, Pruner = plan.Pruner, Seed = 1,
            Generation = new GenerationOptions { MaxNewTokens = options.DecodeTokens, EosTokenId = -1 },
        }, cancel: cancel).Report, progress, cancel);
        int merged = image.MergedTokenCount;
        string shape = $"{side}x{side} px image -> {image.Grid.H}x{image.Grid.W} = {image.PatchCount} patches -> {merged} visual tokens after the {cfg.Vision.SpatialMergeSize}x{cfg.Vision.SpatialMergeSize} merge, "
            + $"vision {cfg.Vision.Depth}x{cfg.Vision.EmbedDim}, decoder {cfg.Text.NumHiddenLayers}x{cfg.Text.HiddenSize}";
        return new SpeedReport(Path.GetFileName(Path.GetFullPath(model.Directory).TrimEnd('/')), shape, model.Weights.Get(Checkpoints.Qwen2VlSchema.Decoder.EmbedTokens).DType,
            compute.Threads, peak, ProcessMemory.PeakResident, options, rows);
    }

    static bool Applicable(string spec, IProgress<string>? progress)
    {
        try
        {
            if (MethodPlan.Parse(spec).Reducer is { } r) MergedTokenReduction.CheckApplicable(r);
            return true;
        }
        catch (MethodNotApplicableException e)
        {
            progress?.Report($"skipped {spec}: {e.Message}");
            return false;
        }
    }
}
