using System.Diagnostics;
using TokenSieve.Cost;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Pipeline;

/// <summary>Options of one pipeline run.</summary>
public sealed record RunOptions
{
    /// <summary>A vision-side reduction (DESIGN.md §2 spec); null or "none" for all visual tokens.</summary>
    public IVisualReducer? Reducer { get; init; }
    /// <summary>A decoder pruner; null for none.</summary>
    public IDecoderPruner? Pruner { get; init; }
    public GenerationOptions Generation { get; init; } = new();
    public AspectMode Aspect { get; init; } = AspectMode.Pad;
    /// <summary>Seed for randomised reductions whose spec names none.</summary>
    public ulong Seed { get; init; }
}

/// <summary>The result of one run: generated ids, decoded answer and the report.</summary>
public sealed class RunResult
{
    public required int[] Tokens { get; init; }
    public required string? Text { get; init; }
    public required RunReport Report { get; init; }
    public required GenerationResult Generation { get; init; }
}

/// <summary>image → preprocess → vision tower (+ taps) → reduction → projector → splice →
/// prefill (+ decoder pruner) → decode. One instance per model; reuses its buffers; not thread-safe.</summary>
public sealed class LlavaPipeline
{
    public LlavaModel Model { get; }
    public InferenceSession Session { get; }
    public ComputeContext Compute => Session.Compute;
    public ImageProcessor ImageProcessor { get; }

    public LlavaPipeline(LlavaModel model, ComputeContext compute)
    {
        Model = model;
        Session = new InferenceSession(model, compute);
        string pre = Path.Combine(model.Directory, "preprocessor_config.json");
        ImageProcessor = File.Exists(pre)
            ? ImageProcessor.FromFile(pre)
            : new ImageProcessor(ImageProcessorConfig.Default with
            {
                ShortestEdge = model.Config.Vision.ImageSize, CropHeight = model.Config.Vision.ImageSize, CropWidth = model.Config.Vision.ImageSize,
            });
    }

    /// <summary>Preprocesses an image for this model's tower.</summary>
    public float[] Preprocess(RgbImage image, AspectMode aspect)
    {
        var pixels = ImageProcessor.Preprocess(image, aspect);
        int s = Model.Config.Vision.ImageSize, ch = Model.Config.Vision.NumChannels;
        if (pixels.Length != ch * s * s)
            throw new InvalidInputException($"the image processor produced {pixels.Length} values but the vision tower takes [{ch},{s},{s}]; preprocessor_config.json crop size does not match image_size {s}");
        return pixels;
    }

    static VisionTaps TapsFor(VisionNeeds needs)
    {
        var taps = VisionTaps.None;
        if (needs.HasFlag(VisionNeeds.LastLayerQK)) taps |= VisionTaps.NextLayerQK;
        if (needs.HasFlag(VisionNeeds.FeatureLayerClsAttention)) taps |= VisionTaps.FeatureLayerClsAttention;
        if (needs.HasFlag(VisionNeeds.FeatureLayerKeys)) taps |= VisionTaps.FeatureLayerKeys;
        return taps;
    }

    /// <summary>Visual tokens for the decoder ([count, text hidden]) from pixel values, with the reduction applied.</summary>
    public (float[] Tokens, int Count, ReductionResult? Reduction, double VisionMs, double ReductionMs, double ProjectorMs, int VisionTokensRun)
        EncodeImage(float[] pixelValues, IVisualReducer? reducer, ulong seed, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        var reducerOrNull = reducer is null or NoReduction ? null : reducer;
        var needs = reducerOrNull?.Needs ?? VisionNeeds.None;
        if (cfg.KeepClsFeature && reducerOrNull is not null)
            throw new InvalidInputException($"vision_feature_select_strategy 'full' keeps [CLS] as a visual token; reduction '{reducerOrNull.Name}' assumes patches only");
        VisionMerging? merging = null;
        if (reducerOrNull is ToMeReducer tome)
            merging = new VisionMerging(new ToMeTracker(cfg.Vision.SequenceLength, protectCls: true, sizeWeighted: tome.SizeWeighted),
                tome.Schedule(Model.Vision.FeatureIndex, cfg.Vision.NumPatches), tome.ProportionalAttention);

        var sw = Stopwatch.StartNew();
        var vision = Model.Vision.Forward(Compute, pixelValues, TapsFor(needs), cancel, merging);
        double visionMs = sw.Elapsed.TotalMilliseconds;
        int c = cfg.Vision.HiddenSize;
        int tokensRun = vision.Tokens;

        if (reducerOrNull is null)
        {
            int rows = cfg.ImageTokensPerImage;
            var features = cfg.KeepClsFeature ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures;
            sw.Restart();
            var projected = Session.Project(features, rows);
            return (projected, rows, null, visionMs, 0, sw.Elapsed.TotalMilliseconds, tokensRun);
        }

        int g = cfg.Vision.GridSize;
        double projectorMs = 0;
        var input = new ReductionInput
        {
            Features = vision.PatchFeatures.ToArray(),
            GridHeight = g, GridWidth = g, Channels = c, Heads = cfg.Vision.NumAttentionHeads,
            LastLayerQueries = vision.NextLayerQ, LastLayerKeys = vision.NextLayerK,
            FeatureLayerClsAttention = vision.FeatureLayerClsAttention, FeatureLayerKeys = vision.FeatureLayerKeys,
            ClsHiddenState = vision.FeatureHidden.AsSpan(0, c).ToArray(),
            MergedTokenSources = merging?.Tracker.PatchProvenance(),
            Project = (f, rows) =>
            {
                var t = Stopwatch.StartNew();
                var z = Session.Project(f, rows);
                projectorMs += t.Elapsed.TotalMilliseconds;
                return z;
            },
            Seed = seed,
        };
        sw.Restart();
        var result = reducerOrNull.Reduce(input, Compute);
        double reductionMs = sw.Elapsed.TotalMilliseconds - projectorMs;
        float[] tokens = result.Tokens;
        if (!result.AlreadyProjected)
        {
            sw.Restart();
            tokens = Session.Project(result.Tokens, result.TokenCount);
            projectorMs += sw.Elapsed.TotalMilliseconds;
        }
        return (tokens, result.TokenCount, result, visionMs, reductionMs, projectorMs, tokensRun);
    }

    /// <summary>Runs the whole pipeline on an image and prompt ids holding one image slot.</summary>
    public RunResult Run(RgbImage image, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        var pixels = Preprocess(image, options.Aspect);
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        return Run(pixels, inputIds, imageSlot, options, decode, preprocessMs, cancel);
    }

    public RunResult Run(float[] pixelValues, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        var enc = EncodeImage(pixelValues, options.Reducer, options.Seed, cancel);
        var seq = Session.Splice(inputIds, imageSlot, enc.Tokens, enc.Count);
        var gen = Session.Generate(seq, options.Generation, options.Pruner, cancel);
        var notes = new List<string>();
        if (enc.Reduction?.Note is { } note) notes.Add(note);
        notes.AddRange(gen.PrefillNotes);
        var report = new RunReport
        {
            Reduction = options.Reducer?.Name ?? "none",
            Pruning = options.Pruner?.Spec ?? "none",
            Threads = Compute.Threads,
            VisualTokensBefore = cfg.ImageTokensPerImage,
            VisualTokens = enc.Count,
            AdaptiveCount = enc.Reduction?.AdaptiveCount,
            PromptTokens = seq.Length,
            GeneratedTokens = gen.Tokens.Length,
            TokensPerLayer = gen.TokensPerLayer,
            PreprocessMs = preprocessMs,
            VisionMs = enc.VisionMs,
            ReductionMs = enc.ReductionMs,
            ProjectorMs = enc.ProjectorMs,
            PrefillMs = gen.PrefillMs,
            TimeToFirstTokenMs = preprocessMs + enc.VisionMs + enc.ReductionMs + enc.ProjectorMs + gen.TimeToFirstTokenMs,
            DecodeMs = gen.DecodeMs,
            VisionFlops = CostModel.VisionFlops(cfg.Vision, Model.Vision.FeatureIndex, cfg.Vision.SequenceLength),
            ProjectorFlops = CostModel.ProjectorFlops(enc.Count, cfg.Vision.HiddenSize, cfg.Text.HiddenSize),
            PrefillFlops = CostModel.PrefillFlops(cfg.Text, gen.TokensPerLayer),
            KvCacheBytes = gen.KvCacheBytes,
            Notes = notes,
            ReductionResult = enc.Reduction,
            KeptPositions = gen.KeptOriginalIndices,
            ImageStart = imageSlot,
        };
        return new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen };
    }
}
