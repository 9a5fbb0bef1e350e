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

    /// <summary>Visual tokens for the decoder from pixel values: the vision tower (with the hooks the
    /// reduction needs), the reduction, the projector. Every row that went through the projector and
    /// every tower layer that ran is recorded, so cost is counted from what ran.</summary>
    public VisualTokens EncodeImage(float[] pixelValues, IVisualReducer? reducer, ulong seed, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        var reducerOrNull = reducer is null or NoReduction ? null : reducer;
        if (cfg.KeepClsFeature && reducerOrNull is not null)
            throw new InvalidInputException($"vision_feature_select_strategy 'full' keeps [CLS] as a visual token; reduction '{reducerOrNull.Name}' assumes patches only");
        var taps = reducerOrNull is null ? null : new VisionTapCollector(reducerOrNull, Model.Vision.Info);

        var sw = Stopwatch.StartNew();
        var vision = Model.Vision.Forward(Compute, pixelValues, taps, cancel);
        double visionMs = sw.Elapsed.TotalMilliseconds;
        int c = cfg.Vision.HiddenSize;
        double projectorMs = 0;
        int projectedRows = 0;
        float[] Project(ReadOnlySpan<float> features, int rows)
        {
            var t = Stopwatch.StartNew();
            var z = Session.Project(features, rows);
            projectorMs += t.Elapsed.TotalMilliseconds;
            projectedRows += rows;
            return z;
        }

        if (taps is null)
        {
            int rows = cfg.ImageTokensPerImage;
            var features = cfg.KeepClsFeature ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures;
            var projected = Project(features, rows);
            var raster = VisualLayout.Raster(cfg.Vision.GridSize, cfg.Vision.GridSize);
            return new VisualTokens
            {
                Tokens = projected, Count = rows, Width = cfg.Text.HiddenSize, TokensBefore = rows, VisionLayers = vision.LayersRun, ProjectedRows = projectedRows,
                Layout = cfg.KeepClsFeature ? raster with { Tokens = [GridCell.None, .. raster.Tokens] } : raster,
                VisionMs = visionMs, ProjectorMs = projectorMs,
            };
        }

        var input = taps.Input(vision, (f, rows) => Project(f, rows), seed);
        sw.Restart();
        var result = reducerOrNull!.Reduce(input, Compute);
        double reductionMs = sw.Elapsed.TotalMilliseconds - projectorMs;
        float[] tokens = result.AlreadyProjected ? result.Tokens : Project(result.Tokens, result.TokenCount);
        return new VisualTokens
        {
            Tokens = tokens, Count = result.TokenCount, Width = cfg.Text.HiddenSize, TokensBefore = cfg.ImageTokensPerImage, Reduction = result,
            Layout = LayoutOf(result),
            VisionLayers = vision.LayersRun, ProjectedRows = projectedRows, VisionMs = visionMs, ReductionMs = reductionMs, ProjectorMs = projectorMs,
        };
    }

    /// <summary>A conversation about one or more images (METHODS.md §15.5): the first turn runs the whole
    /// pipeline (the methods choose their tokens from its question), every later turn appends its
    /// follow-up ids (<see cref="Text.LlavaPrompt.FollowUp"/>) to the same KV cache — pruned tokens stay
    /// gone, nothing is chosen again — and decodes its reply. One result per turn; a later turn's report
    /// repeats the first turn's visual tokens and kept positions with its own prompt, prefill and decode.</summary>
    public IReadOnlyList<RunResult> RunConversation(IReadOnlyList<float[]> pixelValues, int[] firstIds, IReadOnlyList<int> imageSlots, IReadOnlyList<int[]> followUps,
        RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default)
    {
        var first = Run(pixelValues, firstIds, imageSlots, options, decode, preprocessMs, cancel);
        var results = new List<RunResult> { first };
        var last = first.Generation;
        foreach (var followUp in followUps)
        {
            // The reply's last sampled token was not fed; the EOS is replaced by the template's separator.
            int[] ids = last.StoppedAtEos || last.UnfedToken is null ? followUp : [last.UnfedToken.Value, .. followUp];
            var gen = Session.Continue(ids, options.Generation, cancel);
            var report = first.Report with
            {
                PromptTokens = gen.PromptTokens, GeneratedTokens = gen.Tokens.Length, PreprocessMs = 0, VisionMs = 0, ReductionMs = 0, ProjectorMs = 0,
                PrefillMs = gen.PrefillMs, TimeToFirstTokenMs = gen.TimeToFirstTokenMs, DecodeMs = gen.DecodeMs, KvCacheBytes = gen.KvCacheBytes,
                PrefillFlops = CostModel.PrefillFlops(Model.Config.Text, gen.TokensPerLayer), VisionFlops = 0, ProjectorFlops = 0,
                TokensPerLayer = gen.TokensPerLayer, Notes = [],
            };
            results.Add(new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen });
            last = gen;
        }
        return results;
    }

    /// <summary>The sources of the unreduced visual tokens: each patch itself ([CLS] first when kept).</summary>
    static TokenProvenance[] Sources(Checkpoints.LlavaConfig cfg)
    {
        var patches = Enumerable.Range(0, cfg.Vision.NumPatches).Select(TokenProvenance.Single);
        return cfg.KeepClsFeature ? [TokenProvenance.ClassToken, .. patches] : patches.ToArray();
    }

    /// <summary>A token made of exactly one patch sits in that patch's cell; merged and pooled tokens sit in none.</summary>
    static VisualLayout LayoutOf(ReductionResult r) =>
        new([new PatchGrid(r.GridHeight, r.GridWidth)], r.Provenance.Select(p => p.Patches.Length == 1 && !p.IsClassToken
            ? new GridCell(0, p.Patches[0] / r.GridWidth, p.Patches[0] % r.GridWidth) : GridCell.None).ToArray());

    /// <summary>Runs the whole pipeline on an image and prompt ids holding one image slot.</summary>
    public RunResult Run(RgbImage image, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default) =>
        Run([image], inputIds, [imageSlot], options, decode, cancel);

    /// <summary>Runs the whole pipeline on several images, each filling its slot of the ids in order.</summary>
    public RunResult Run(IReadOnlyList<RgbImage> images, int[] inputIds, IReadOnlyList<int> imageSlots, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        var pixels = images.Select(image => Preprocess(image, options.Aspect)).ToList();
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        return Run(pixels, inputIds, imageSlots, options, decode, preprocessMs, cancel);
    }

    public RunResult Run(float[] pixelValues, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default) =>
        Run([pixelValues], inputIds, [imageSlot], options, decode, preprocessMs, cancel);

    /// <summary>The pipeline on preprocessed images: each is encoded (and reduced) on its own, the visual
    /// tokens fill the slots in order, and a decoder pruner acts on all of them (per image unless its
    /// spec says scope=total).</summary>
    public RunResult Run(IReadOnlyList<float[]> pixelValues, int[] inputIds, IReadOnlyList<int> imageSlots, RunOptions options, Func<int[], string>? decode = null,
        double preprocessMs = 0, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        if (pixelValues.Count == 0) throw new InvalidInputException("no image to run");
        if (pixelValues.Count != imageSlots.Count)
            throw new InvalidInputException($"{pixelValues.Count} image(s) for {imageSlots.Count} image placeholder(s) in the prompt; each <image> takes one image, in order");
        var visual = pixelValues.Select((px, i) => EncodeImage(px, options.Reducer, options.Seed + (ulong)i, cancel)).ToList();
        var seq = Session.Splice(inputIds, visual.Select((v, i) => new SplicedImage(imageSlots[i], v.Tokens, v.Count, v.Layout)).ToList());
        var pruning = options.Pruner is null ? null : PrefillPruning.Begin(options.Pruner, seq, Model.Decoder.Info);
        var gen = Session.Generate(seq, options.Generation, pruning, cancel);
        var notes = new List<string>();
        foreach (var v in visual) if (v.Reduction?.Note is { } note) notes.Add(note);
        notes.AddRange(gen.PrefillNotes);
        double visionMs = visual.Sum(v => v.VisionMs), reductionMs = visual.Sum(v => v.ReductionMs), projectorMs = visual.Sum(v => v.ProjectorMs);
        var report = new RunReport
        {
            Reduction = options.Reducer?.Name ?? "none",
            Pruning = options.Pruner?.Spec ?? "none",
            Threads = Compute.Threads,
            Attention = Compute.Attention,
            Images = visual.Count,
            VisualTokensBefore = visual.Sum(v => v.TokensBefore),
            VisualTokens = visual.Sum(v => v.Count),
            AdaptiveCount = visual[0].Reduction?.AdaptiveCount,
            PromptTokens = seq.Length,
            GeneratedTokens = gen.Tokens.Length,
            TokensPerLayer = gen.TokensPerLayer,
            PreprocessMs = preprocessMs,
            VisionMs = visionMs,
            ReductionMs = reductionMs,
            ProjectorMs = projectorMs,
            PrefillMs = gen.PrefillMs,
            TimeToFirstTokenMs = preprocessMs + visionMs + reductionMs + projectorMs + gen.TimeToFirstTokenMs,
            DecodeMs = gen.DecodeMs,
            VisionFlops = visual.Sum(v => CostModel.VisionFlops(cfg.Vision, v.VisionLayers)),
            ProjectorFlops = visual.Sum(v => CostModel.ProjectorFlops(v.ProjectedRows, cfg.Vision.HiddenSize, cfg.Text.HiddenSize)),
            PrefillFlops = CostModel.PrefillFlops(cfg.Text, gen.TokensPerLayer),
            KvCacheBytes = gen.KvCacheBytes,
            Notes = notes,
            ReductionResult = visual[0].Reduction,
            VisualSources = visual.SelectMany(v => v.Reduction?.Provenance ?? Sources(cfg)).ToArray(),
            ImageSpans = seq.Images.Select(i => (i.Start, i.Count)).ToArray(),
            Grid = new PatchGrid(cfg.Vision.GridSize, cfg.Vision.GridSize),
            DecoderRankings = pruning?.Rankings ?? [],
            KeptPositions = gen.KeptOriginalIndices,
            ImageStart = seq.ImageStart,
        };
        return new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen };
    }
}
