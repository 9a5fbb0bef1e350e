using System.Diagnostics;
using TokenSieve.Checkpoints;
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

    /// <summary>How a vision-side method's fixed budget applies to an input of several views
    /// (LLaVA-NeXT's base view and tiles, a video's frames): to each view (the default, the PruMerge
    /// paper's per-frame choice) or to the whole input, split evenly over its views.</summary>
    public VisionBudgetScope VisionBudget { get; init; } = VisionBudgetScope.PerView;

    /// <summary>The report's note for a prompt without images when these options name a method (null when
    /// they name none): there are no visual tokens to reduce or prune.</summary>
    internal string? TextOnlyNote => Reducer is not (null or NoReduction) || Pruner is not null
        ? "text-only prompt: no visual tokens, so no reduction or pruning was applied" : null;
}

/// <summary>See <see cref="RunOptions.VisionBudget"/>.</summary>
public enum VisionBudgetScope
{
    /// <summary>Every tile / frame keeps the spec's budget.</summary>
    PerView,
    /// <summary>The image / video keeps the spec's budget in all, split evenly over its views (the
    /// first views get one more where it does not divide).</summary>
    PerInput,
}

/// <summary>The result of one run: generated ids, decoded answer and the report.</summary>
public sealed class RunResult
{
    public required int[] Tokens { get; init; }
    /// <summary>The decoded answer; null only when the run was given no decode function (the pipelines
    /// hold no tokenizer: pass <c>ids => AnswerText.Decode(tokenizer, ids)</c>, or use the chat client, which always decodes).</summary>
    public required string? Text { get; init; }
    public required RunReport Report { get; init; }
    public required GenerationResult Generation { get; init; }
}

/// <summary>image → preprocess → vision tower (+ taps) → reduction → projector → splice →
/// prefill (+ decoder pruner) → decode. One instance per model; reuses its buffers; not thread-safe.
/// Serves every LLaVA variant: LLaVA-1.5 (one view per image), LLaVA-NeXT (anyres tiles, packed with
/// unpad and newlines) and Video-LLaVA (images through the image tower, videos frame by frame
/// through the video tower).</summary>
public sealed class LlavaPipeline
{
    public LlavaModel Model { get; }
    public InferenceSession Session { get; }
    public ComputeContext Compute => Session.Compute;
    public ImageProcessor ImageProcessor { get; }
    /// <summary>LLaVA-NeXT's tiling; null for the other variants.</summary>
    public AnyResProcessor? AnyRes { get; }

    public LlavaPipeline(LlavaModel model, ComputeContext compute)
    {
        Model = model;
        Session = new InferenceSession(model, compute);
        string pre = Path.Combine(model.Directory, "preprocessor_config.json");
        ImageProcessor = model.ImageProcessing is { } stored
            ? new ImageProcessor(stored)
            : File.Exists(pre)
            ? ImageProcessor.FromFile(pre)
            : new ImageProcessor(ImageProcessorConfig.Default with
            {
                ShortestEdge = model.Config.Vision.ImageSize, CropHeight = model.Config.Vision.ImageSize, CropWidth = model.Config.Vision.ImageSize,
            });
        if (model.Config.Variant == LlavaVariant.LlavaNext)
            AnyRes = new AnyResProcessor(ImageProcessor, model.Config.ImageGridPinpoints, model.Config.Vision.ImageSize);
    }

    /// <summary>Preprocesses an image into the tower's one view (not for LLaVA-NeXT, whose images are
    /// several views: use <see cref="Prepare"/>).</summary>
    public float[] Preprocess(RgbImage image, AspectMode aspect)
    {
        if (AnyRes is not null) throw new InvalidInputException("a LLaVA-NeXT image is a base view and anyres tiles, not one view; prepare it with Prepare");
        var pixels = ImageProcessor.Preprocess(image, aspect);
        int s = Model.Config.Vision.ImageSize, ch = Model.Config.Vision.NumChannels;
        if (pixels.Length != ch * s * s)
            throw new InvalidInputException($"the image processor produced {pixels.Length} values but the vision tower takes [{ch},{s},{s}]; preprocessor_config.json crop size does not match image_size {s}");
        return pixels;
    }

    /// <summary>An image as the model sees it: one view, or LLaVA-NeXT's base view and tiles.</summary>
    public PreparedVisual Prepare(RgbImage image, AspectMode aspect)
    {
        if (AnyRes is null) return PreparedVisual.Image(Preprocess(image, aspect));
        var (tiles, plan) = AnyRes.Preprocess(image, Model.Config.Vision.GridSize);
        return new PreparedVisual { Kind = VisualKind.Image, Views = tiles, AnyRes = plan };
    }

    /// <summary>A video as Video-LLaVA sees it: every frame, in the given order, through the CLIP
    /// recipe (shortest edge, centre crop). Frames must share one size.</summary>
    public PreparedVisual PrepareVideo(IReadOnlyList<RgbImage> frames)
    {
        if (Model.VideoVision is null)
            throw new InvalidInputException($"a {LlavaConfig.ModelTypeOf(Model.Config.Variant)} model has no video tower; videos need a video_llava model");
        if (frames.Count == 0) throw new InvalidInputException("the video has no frames");
        var views = new List<float[]>(frames.Count);
        for (int i = 0; i < frames.Count; i++)
        {
            if (frames[i].Width != frames[0].Width || frames[i].Height != frames[0].Height)
                throw new InvalidInputException($"video frames differ in size: frame 0 is {frames[0].Width}x{frames[0].Height}, frame {i} is {frames[i].Width}x{frames[i].Height}");
            AspectMode crop = AspectMode.Crop;
            views.Add(ImageProcessor.Preprocess(frames[i], crop));
        }
        int s = Model.Config.Vision.ImageSize, ch = Model.Config.Vision.NumChannels;
        if (views[0].Length != ch * s * s)
            throw new InvalidInputException($"the image processor produced {views[0].Length} values per frame but the video tower takes [{ch},{s},{s}]");
        return new PreparedVisual { Kind = VisualKind.Video, Views = views };
    }

    /// <summary>The placeholders in prompt ids, in order: the image token, and Video-LLaVA's video token.</summary>
    public IReadOnlyList<VisualSlot> FindSlots(ReadOnlySpan<int> ids)
    {
        var slots = new List<VisualSlot>();
        int? video = Model.Config.VideoTokenIndex;
        for (int i = 0; i < ids.Length; i++)
        {
            if (ids[i] == Model.Config.ImageTokenIndex) slots.Add(new VisualSlot(i, VisualKind.Image));
            else if (ids[i] == video) slots.Add(new VisualSlot(i, VisualKind.Video));
        }
        return slots;
    }

    /// <summary>The reducer of each view: the same one, or (<see cref="VisionBudgetScope.PerInput"/>) the
    /// method at the view's share of its budget.</summary>
    static IVisualReducer?[] ViewReducers(IVisualReducer? reducer, int views, VisionBudgetScope scope)
    {
        var result = Enumerable.Repeat(reducer, views).ToArray();
        if (scope == VisionBudgetScope.PerView || views == 1 || reducer is null or NoReduction || reducer.FixedBudget is not int total) return result;
        if (total < views)
            throw new MethodSpecException(reducer.Name, $"a budget of {total} for the whole input cannot keep a token in each of its {views} views");
        for (int i = 0; i < views; i++)
            result[i] = reducer.WithBudget(total / views + (i < total % views ? 1 : 0))
                ?? throw new MethodSpecException(reducer.Name, "this method's budget cannot be split over views; use the per-view budget");
        return result;
    }

    /// <summary>One tower forward's tokens: projected rows, their sources and cells (grid 0 = this view).</summary>
    sealed record ViewTokens(float[] Tokens, int Count, TokenProvenance[] Sources, GridCell[] Cells, ReductionResult? Reduction,
        IReadOnlyList<VisionLayerRun> Layers, int ProjectedRows, double VisionMs, double ReductionMs, double ProjectorMs);

    /// <summary>Visual tokens of one prepared input: every view through its tower (with the hooks the
    /// reduction needs), the reduction per view (LLaVA-NeXT: per tile, base included; Video-LLaVA:
    /// per frame — the PruMerge paper's choice), the projector, and LLaVA-NeXT's packing.</summary>
    public VisualTokens Encode(PreparedVisual visual, IVisualReducer? reducer, ulong seed, CancellationToken cancel = default) =>
        Encode(visual, reducer, seed, VisionBudgetScope.PerView, cancel);

    public VisualTokens Encode(PreparedVisual visual, IVisualReducer? reducer, ulong seed, VisionBudgetScope scope, CancellationToken cancel = default)
    {
        if (visual.Views.Count == 0) throw new InvalidInputException("a visual input without views");
        var reducers = ViewReducers(reducer, visual.Views.Count, scope);
        if (visual.Kind == VisualKind.Video) return EncodeVideo(visual.Views, reducers, seed, cancel);
        if (visual.AnyRes is { } plan) return EncodeAnyRes(visual.Views, plan, reducers, seed, cancel);
        if (Model.Config.Variant == LlavaVariant.LlavaNext)
            throw new InvalidInputException("a LLaVA-NeXT image needs its anyres tiles and plan (LlavaPipeline.Prepare)");
        if (visual.Views.Count != 1) throw new InvalidInputException($"an image has one view here, got {visual.Views.Count}");
        return EncodeImage(visual.Views[0], reducer, seed, cancel);
    }

    /// <summary>Visual tokens for the decoder from one view's pixel values (LLaVA-1.5, Video-LLaVA's
    /// images). Every row that went through the projector and every tower layer that ran is
    /// recorded, so cost is counted from what ran.</summary>
    public VisualTokens EncodeImage(float[] pixelValues, IVisualReducer? reducer, ulong seed, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        var v = EncodeView(Model.Vision, pixelValues, cfg.KeepClsFeature, reducer, seed, image: true, cancel);
        return Assemble([v], v.Tokens, v.Count, v.Sources, v.Cells, cfg.ImageTokensPerImage);
    }

    VisualTokens Assemble(IReadOnlyList<ViewTokens> views, float[] tokens, int count, TokenProvenance[] sources, GridCell[] cells, int tokensBefore)
    {
        var cfg = Model.Config;
        var grid = new PatchGrid(cfg.Vision.GridSize, cfg.Vision.GridSize);
        return new VisualTokens
        {
            Tokens = tokens, Count = count, Width = cfg.Text.HiddenSize, TokensBefore = tokensBefore, Reduction = views[0].Reduction,
            Sources = sources, Layout = new VisualLayout(Enumerable.Repeat(grid, views.Count).ToArray(), cells), Views = views.Count,
            VisionLayers = views.SelectMany(v => v.Layers).ToList(), VisionFlops = views.Sum(v => CostModel.VisionFlops(cfg.Vision, v.Layers)),
            ProjectedRows = views.Sum(v => v.ProjectedRows),
            VisionMs = views.Sum(v => v.VisionMs), ReductionMs = views.Sum(v => v.ReductionMs), ProjectorMs = views.Sum(v => v.ProjectorMs),
        };
    }

    /// <summary>One view through <paramref name="tower"/>, reduced when asked, projected. With
    /// <paramref name="keepCls"/> the [CLS] row comes first ("full" strategy, video frames); a reduced
    /// image refuses it (the methods assume patches only), a reduced frame keeps it in front.</summary>
    ViewTokens EncodeView(ClipVisionTower tower, float[] pixelValues, bool keepCls, IVisualReducer? reducer, ulong seed, bool image, CancellationToken cancel)
    {
        var cfg = Model.Config;
        var reducerOrNull = reducer is null or NoReduction ? null : reducer;
        if (image && keepCls && reducerOrNull is not null)
            throw new InvalidInputException($"vision_feature_select_strategy 'full' keeps [CLS] as a visual token; reduction '{reducerOrNull.Name}' assumes patches only");
        var taps = reducerOrNull is null ? null : new VisionTapCollector(reducerOrNull, tower.Info);

        var sw = Stopwatch.StartNew();
        var vision = tower.Forward(Compute, pixelValues, taps, cancel);
        double visionMs = sw.Elapsed.TotalMilliseconds;
        int c = cfg.Vision.HiddenSize, g = cfg.Vision.GridSize;
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
            int rows = cfg.Vision.NumPatches + (keepCls ? 1 : 0);
            var features = keepCls ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures;
            var projected = Project(features, rows);
            var patchSources = Enumerable.Range(0, cfg.Vision.NumPatches).Select(TokenProvenance.Single);
            var patchCells = Enumerable.Range(0, cfg.Vision.NumPatches).Select(p => new GridCell(0, p / g, p % g));
            return new ViewTokens(projected, rows, keepCls ? [TokenProvenance.ClassToken, .. patchSources] : patchSources.ToArray(),
                keepCls ? [GridCell.None, .. patchCells] : patchCells.ToArray(), null, vision.LayersRun, projectedRows, visionMs, 0, projectorMs);
        }

        var input = taps.Input(vision, (f, rows) => Project(f, rows), seed);
        sw.Restart();
        var result = reducerOrNull!.Reduce(input, Compute);
        double reductionMs = sw.Elapsed.TotalMilliseconds - projectorMs;
        float[] tokens = result.AlreadyProjected ? result.Tokens : Project(result.Tokens, result.TokenCount);
        var sources = result.Provenance;
        var cells = result.Provenance.Select(p => p.Patches.Length == 1 && !p.IsClassToken
            ? new GridCell(0, p.Patches[0] / result.GridWidth, p.Patches[0] % result.GridWidth) : GridCell.None).ToArray();
        int count = result.TokenCount;
        if (keepCls)
        {
            var cls = Project(vision.FeatureHidden.AsSpan(0, c), 1);
            tokens = [.. cls, .. tokens];
            sources = [TokenProvenance.ClassToken, .. sources];
            cells = [GridCell.None, .. cells];
            count++;
        }
        return new ViewTokens(tokens, count, sources, cells, result, vision.LayersRun, projectedRows, visionMs, reductionMs, projectorMs);
    }

    /// <summary>Video-LLaVA: each frame through the video tower, [CLS] and patches kept (videos ignore
    /// the select strategy), frame-major. A reduction acts per frame on the patches; the frame's
    /// [CLS] row stays in front of them.</summary>
    VisualTokens EncodeVideo(IReadOnlyList<float[]> frames, IVisualReducer?[] reducers, ulong seed, CancellationToken cancel)
    {
        var tower = Model.VideoVision ?? throw new InvalidInputException($"a {LlavaConfig.ModelTypeOf(Model.Config.Variant)} model has no video tower");
        var views = new List<ViewTokens>(frames.Count);
        for (int f = 0; f < frames.Count; f++) views.Add(EncodeView(tower, frames[f], keepCls: true, reducers[f], seed + (ulong)f, image: false, cancel));
        int d = Model.Config.Text.HiddenSize, count = views.Sum(v => v.Count);
        var tokens = new float[count * d];
        var sources = new List<TokenProvenance>(count);
        var cells = new List<GridCell>(count);
        int row = 0;
        for (int f = 0; f < views.Count; f++)
        {
            views[f].Tokens.AsSpan(0, views[f].Count * d).CopyTo(tokens.AsSpan(row * d));
            row += views[f].Count;
            sources.AddRange(views[f].Sources);
            cells.AddRange(views[f].Cells.Select(cell => cell.Grid < 0 ? cell : cell with { Grid = f }));
        }
        return Assemble(views, tokens, count, sources.ToArray(), cells.ToArray(), frames.Count * Model.Config.VideoTokensPerFrame);
    }

    /// <summary>LLaVA-NeXT: the base view and every tile through the tower, then packed as transformers
    /// 4.45.1 packs them — the base view's rows first, then the tiles' patches arranged on the
    /// feature grid, cut to the unpadded window, with <c>image_newline</c> after every row. With a
    /// reduction (per view) the base view's tokens come first as the method emits them; each grid
    /// tile's token sits at the cell of its first source patch, tokens are ordered by cell on the
    /// feature grid, those outside the unpadded window are dropped, and a newline ends every row that
    /// keeps a token. Without reduction this is exactly the reference packing.</summary>
    VisualTokens EncodeAnyRes(IReadOnlyList<float[]> tiles, AnyResPlan plan, IVisualReducer?[] reducers, ulong seed, CancellationToken cancel)
    {
        var cfg = Model.Config;
        if (tiles.Count != plan.TileCount) throw new InvalidInputException($"anyres: {tiles.Count} views for a plan of {plan.TileCount} (base + {plan.Tiles.Rows}x{plan.Tiles.Cols} tiles)");
        var newline = Model.ImageNewline ?? throw new InvalidInputException("the model has no image_newline");
        var views = new List<ViewTokens>(tiles.Count);
        for (int t = 0; t < tiles.Count; t++) views.Add(EncodeView(Model.Vision, tiles[t], keepCls: false, reducers[t], seed + (ulong)t, image: true, cancel));
        int d = cfg.Text.HiddenSize, g = cfg.Vision.GridSize;
        var (top, rows, left, cols) = plan.Unpadded;

        // Grid tokens with their feature-grid cell; stable order by cell.
        var placed = new List<(int R, int C, int View, int Index)>();
        for (int t = 1; t < views.Count; t++)
        {
            int tileRow = (t - 1) / plan.Tiles.Cols, tileCol = (t - 1) % plan.Tiles.Cols;
            var v = views[t];
            for (int i = 0; i < v.Count; i++)
            {
                if (v.Sources[i].Patches.Length == 0) continue;
                int p = v.Sources[i].Patches[0];
                int r = tileRow * g + p / g, c = tileCol * g + p % g;
                if (r < top || r >= top + rows || c < left || c >= left + cols) continue;
                placed.Add((r, c, t, i));
            }
        }
        var ordered = placed.Select((x, k) => (x, k)).OrderBy(e => e.x.R).ThenBy(e => e.x.C).ThenBy(e => e.k).Select(e => e.x).ToList();
        int newlines = ordered.Select(x => x.R).Distinct().Count();
        // Rows kept whole, so an unreduced image has a newline after every row, including rows of a
        // zero-width grid (the reference emits one newline per row even then).
        bool reduced = reducers.Any(r => r is not (null or NoReduction));
        if (!reduced) newlines = rows;
        int count = views[0].Count + ordered.Count + newlines;
        var tokens = new float[count * d];
        var sources = new List<TokenProvenance>(count);
        var cells = new List<GridCell>(count);
        views[0].Tokens.AsSpan(0, views[0].Count * d).CopyTo(tokens);
        sources.AddRange(views[0].Sources);
        cells.AddRange(views[0].Cells);
        int row = views[0].Count;
        void Newline()
        {
            newline.CopyTo(tokens.AsSpan(row++ * d, d));
            sources.Add(new TokenProvenance([], []));
            cells.Add(GridCell.None);
        }
        if (!reduced)
        {
            int k = 0;
            for (int r = 0; r < rows; r++)
            {
                for (; k < ordered.Count && ordered[k].R == top + r; k++) Place(ordered[k]);
                Newline();
            }
        }
        else
        {
            for (int k = 0; k < ordered.Count; k++)
            {
                Place(ordered[k]);
                if (k + 1 == ordered.Count || ordered[k + 1].R != ordered[k].R) Newline();
            }
        }
        return Assemble(views, tokens, count, sources.ToArray(), cells.ToArray(), g * g + rows * (cols + 1));

        void Place((int R, int C, int View, int Index) x)
        {
            views[x.View].Tokens.AsSpan(x.Index * d, d).CopyTo(tokens.AsSpan(row++ * d, d));
            sources.Add(views[x.View].Sources[x.Index]);
            var cell = views[x.View].Cells[x.Index];
            cells.Add(cell.Grid < 0 ? cell : cell with { Grid = x.View });
        }
    }

    /// <summary>A conversation about one or more images (METHODS.md §15.5): the first turn runs the whole
    /// pipeline (the methods choose their tokens from its question), every later turn appends its
    /// follow-up ids (<see cref="Text.LlavaPrompt.FollowUp"/>) to the same KV cache — pruned tokens stay
    /// gone, nothing is chosen again — and decodes its reply. One result per turn; a later turn's report
    /// repeats the first turn's visual tokens and kept positions with its own prompt, prefill and decode.</summary>
    public IReadOnlyList<RunResult> RunConversation(IReadOnlyList<float[]> pixelValues, int[] firstIds, IReadOnlyList<int> imageSlots, IReadOnlyList<int[]> followUps,
        RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default) =>
        RunConversation(pixelValues.Select(PreparedVisual.Image).ToList(), firstIds, imageSlots, followUps, options, decode, preprocessMs, cancel);

    public IReadOnlyList<RunResult> RunConversation(IReadOnlyList<PreparedVisual> visuals, int[] firstIds, IReadOnlyList<int> slots, IReadOnlyList<int[]> followUps,
        RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default)
    {
        var first = Run(visuals, firstIds, slots, options, decode, preprocessMs, cancel);
        var results = new List<RunResult> { first };
        var last = first.Generation;
        int positions = first.Report.PromptTokens + last.Tokens.Length;
        foreach (var followUp in followUps)
        {
            // The reply's last sampled token was not fed; the EOS is replaced by the template's separator.
            int[] ids = last.StoppedAtEos || last.UnfedToken is null ? followUp : [last.UnfedToken.Value, .. followUp];
            positions += ids.Length;
            Model.Config.Text.CheckSequenceLength(positions + options.Generation.MaxNewTokens);
            var gen = Session.Continue(ids, options.Generation, cancel);
            var report = first.Report with
            {
                PromptTokens = gen.PromptTokens, GeneratedTokens = gen.Tokens.Length, PreprocessMs = 0, VisionMs = 0, ReductionMs = 0, ProjectorMs = 0,
                PrefillMs = gen.PrefillMs, TimeToFirstTokenMs = gen.TimeToFirstTokenMs, DecodeMs = gen.DecodeMs, KvCacheBytes = gen.KvCacheBytes,
                PrefillFlops = CostModel.PrefillFlops(Model.Config.Text, gen.TokensPerLayer), VisionFlops = 0, ProjectorFlops = 0,
                TokensPerLayer = gen.TokensPerLayer, Notes = [],
            };
            results.Add(new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen });
            positions += gen.Tokens.Length;
            last = gen;
        }
        return results;
    }

    /// <summary><see cref="Run(IReadOnlyList{PreparedVisual}, int[], IReadOnlyList{int}, RunOptions, Func{int[], string}?, double, CancellationToken)"/>
    /// on a worker thread. An empty <paramref name="visuals"/> with no slots is a text-only prompt.</summary>
    public Task<RunResult> RunAsync(IReadOnlyList<PreparedVisual> visuals, int[] inputIds, IReadOnlyList<int> slots, RunOptions options,
        Func<int[], string>? decode = null, CancellationToken cancel = default) =>
        RunStreaming.RunAsync((g, c) => Run(visuals, inputIds, slots, options with { Generation = g }, decode, 0, c), options.Generation, cancel);

    /// <summary>The run as a stream: each generated id as it is sampled, then the finished
    /// <see cref="RunResult"/>. Stopping the enumeration (or cancelling) stops the run.</summary>
    public IAsyncEnumerable<RunUpdate> StreamAsync(IReadOnlyList<PreparedVisual> visuals, int[] inputIds, IReadOnlyList<int> slots, RunOptions options,
        Func<int[], string>? decode = null, CancellationToken cancel = default) =>
        RunStreaming.StreamAsync((g, c) => Run(visuals, inputIds, slots, options with { Generation = g }, decode, 0, c), options.Generation, cancel);

    /// <summary>Runs the whole pipeline on an image and prompt ids holding one image slot.</summary>
    public RunResult Run(RgbImage image, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default) =>
        Run([image], inputIds, [imageSlot], options, decode, cancel);

    /// <summary>Runs the whole pipeline on several images, each filling its slot of the ids in order.</summary>
    public RunResult Run(IReadOnlyList<RgbImage> images, int[] inputIds, IReadOnlyList<int> imageSlots, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        var visuals = images.Select(image => Prepare(image, options.Aspect)).ToList();
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        return Run(visuals, inputIds, imageSlots, options, decode, preprocessMs, cancel);
    }

    public RunResult Run(float[] pixelValues, int[] inputIds, int imageSlot, RunOptions options, Func<int[], string>? decode = null, double preprocessMs = 0, CancellationToken cancel = default) =>
        Run([pixelValues], inputIds, [imageSlot], options, decode, preprocessMs, cancel);

    public RunResult Run(IReadOnlyList<float[]> pixelValues, int[] inputIds, IReadOnlyList<int> imageSlots, RunOptions options, Func<int[], string>? decode = null,
        double preprocessMs = 0, CancellationToken cancel = default) =>
        Run(pixelValues.Select(PreparedVisual.Image).ToList(), inputIds, imageSlots, options, decode, preprocessMs, cancel);

    /// <summary>The pipeline on prepared images and videos: each is encoded (and reduced) on its own, the
    /// visual tokens fill the slots in order, and a decoder pruner acts on all of them (per image or
    /// video unless its spec says scope=total).</summary>
    public RunResult Run(IReadOnlyList<PreparedVisual> visuals, int[] inputIds, IReadOnlyList<int> slots, RunOptions options, Func<int[], string>? decode = null,
        double preprocessMs = 0, CancellationToken cancel = default)
    {
        var cfg = Model.Config;
        if (visuals.Count != slots.Count)
            throw new InvalidInputException($"{visuals.Count} image(s)/video(s) for {slots.Count} placeholder(s) in the prompt; each <image> or <video> takes one, in order");
        for (int i = 0; i < slots.Count; i++)
        {
            if (slots[i] < 0 || slots[i] >= inputIds.Length) throw new InvalidInputException($"placeholder position {slots[i]} is outside the {inputIds.Length} prompt ids");
            if (cfg.VideoTokenIndex is int videoToken)
            {
                int expected = visuals[i].Kind == VisualKind.Video ? videoToken : cfg.ImageTokenIndex;
                if (inputIds[slots[i]] != expected)
                    throw new InvalidInputException($"placeholder {i} (id {inputIds[slots[i]]} at position {slots[i]}) does not match its input, a {visuals[i].Kind.ToString().ToLowerInvariant()} (id {expected}); give images and videos in prompt order");
            }
        }
        var visual = visuals.Select((v, i) => Encode(v, options.Reducer, options.Seed + (ulong)i, options.VisionBudget, cancel)).ToList();
        var seq = Session.Splice(inputIds, visual.Select((v, i) => new SplicedImage(slots[i], v.Tokens, v.Count, v.Layout)).ToList());
        cfg.Text.CheckSequenceLength(seq.Length + options.Generation.MaxNewTokens);
        var pruning = PrefillPruning.For(options.Pruner, seq, Model.Decoder.Info);
        var gen = Session.Generate(seq, options.Generation, pruning, cancel);
        var notes = new List<string>();
        if (visual.Count == 0 && options.TextOnlyNote is { } textOnly) notes.Add(textOnly);
        foreach (var v in visual) if (v.Reduction?.Note is { } note) notes.Add(note);
        notes.AddRange(gen.PrefillNotes);
        double visionMs = visual.Sum(v => v.VisionMs), reductionMs = visual.Sum(v => v.ReductionMs), projectorMs = visual.Sum(v => v.ProjectorMs);
        var report = new RunReport
        {
            Reduction = options.Reducer?.Name ?? "none",
            Pruning = options.Pruner?.Spec ?? "none",
            Threads = Compute.Threads,
            Weights = DTypes.Name(Model.WeightType),
            Attention = Compute.Attention,
            Images = visual.Count,
            VisualTokensBefore = visual.Sum(v => v.TokensBefore),
            VisualTokens = visual.Sum(v => v.Count),
            AdaptiveCount = visual.FirstOrDefault()?.Reduction?.AdaptiveCount,
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
            VisionFlops = visual.Sum(v => v.VisionFlops),
            ProjectorFlops = visual.Sum(v => CostModel.ProjectorFlops(v.ProjectedRows, cfg.Vision.HiddenSize, cfg.Text.HiddenSize)),
            PrefillFlops = CostModel.PrefillFlops(cfg.Text, gen.TokensPerLayer),
            KvCacheBytes = gen.KvCacheBytes,
            Notes = notes,
            ReductionResult = visual.FirstOrDefault()?.Reduction,
            VisualSources = visual.SelectMany(v => v.Sources).ToArray(),
            ImageSpans = seq.Images.Select(i => (i.Start, i.Count)).ToArray(),
            Grid = new PatchGrid(cfg.Vision.GridSize, cfg.Vision.GridSize),
            DecoderRankings = pruning?.Rankings ?? [],
            KeptPositions = gen.KeptOriginalIndices,
            ImageStart = seq.Images.Count > 0 ? seq.ImageStart : 0,
        };
        return new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen };
    }
}
