using System.Diagnostics;
using TokenSieve.Cost;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Pipeline;

/// <summary>One image's visual tokens on their way into a Qwen2-VL prompt: the merged tokens that
/// remain (all, or what a method kept), their cells on the merged grid and provenance, and the counts
/// before reduction and before the 2×2 merge.</summary>
public sealed record Qwen2VlImageEncoding(
    Qwen2VlImageTokens Tokens, int TokensBefore, int Patches, TokenProvenance[] Sources, ReductionResult? Reduction, string? Note)
{
    public int Count => Tokens.Count;
}

/// <summary>Qwen2-VL: images → Qwen2VLImageProcessor → vision tower (all images in one forward, attention
/// within each) → PatchMerger → optional reduction per image on the merged tokens → the prompt's
/// <c>&lt;|image_pad|&gt;</c> runs filled, with 3-D M-RoPE positions → prefill (+ decoder pruner, original
/// M-RoPE positions kept) → decode. One instance per model; reuses its buffers; not thread-safe.</summary>
public sealed class Qwen2VlPipeline
{
    public Qwen2VlModel Model { get; }
    public InferenceSession Session { get; }
    public ComputeContext Compute => Session.Compute;
    public Qwen2VlImageProcessor Processor { get; }

    public Qwen2VlPipeline(Qwen2VlModel model, ComputeContext compute)
    {
        Model = model;
        Session = new InferenceSession(model.Decoder, compute);
        var v = model.Config.Vision;
        string pre = Path.Combine(model.Directory, "preprocessor_config.json");
        var config = File.Exists(pre)
            ? Qwen2VlImageProcessorConfig.Load(pre)
            : Qwen2VlImageProcessorConfig.Default with { PatchSize = v.PatchSize, MergeSize = v.SpatialMergeSize, TemporalPatchSize = v.TemporalPatchSize };
        if (config.PatchSize != v.PatchSize || config.MergeSize != v.SpatialMergeSize || config.TemporalPatchSize != v.TemporalPatchSize || v.InChannels != 3)
            throw new ConfigException(pre, "patch_size",
                $"the processor cuts {config.PatchSize}-px patches, merge {config.MergeSize}, temporal {config.TemporalPatchSize} (RGB), the tower takes {v.PatchSize}, {v.SpatialMergeSize}, {v.TemporalPatchSize} ({v.InChannels} channels)");
        Processor = new Qwen2VlImageProcessor(config);
    }

    /// <summary>An image as the tower takes it (smart_resize, resample, normalise, patches in merge-window
    /// order); <paramref name="file"/> only names it in errors.</summary>
    public Qwen2VlImagePatches Prepare(RgbImage image, string? file = null) => Processor.Preprocess(image, file);

    /// <summary>Each image's merged tokens: one tower forward over all images (the hooks a reduction needs
    /// attached), the PatchMerger, then the reduction per image. Times and FLOPs go to <paramref name="cost"/>.</summary>
    public IReadOnlyList<Qwen2VlImageEncoding> Encode(IReadOnlyList<Qwen2VlImagePatches> images, IVisualReducer? reducer, ulong seed, StageCost cost,
        CancellationToken cancel = default)
    {
        if (images.Count == 0) throw new InvalidInputException("no image to encode");
        var v = Model.Config.Vision;
        var reduce = reducer is null or NoReduction ? null : reducer;
        bool surrogate = reduce is not null && MergedTokenReduction.CheckApplicable(reduce);
        var received = surrogate ? new ReceivedAttention(v.Depth - 1, v.MergeUnit) : null;
        var grids = images.Select(i => i.Grid).ToList();
        var pixels = images.Count == 1 ? images[0].PixelValues : images.SelectMany(i => i.PixelValues).ToArray();

        var sw = Stopwatch.StartNew();
        var hidden = Model.Vision.Encode(Compute, pixels, grids, received, cancel);
        cost.VisionMs += sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        int rows = hidden.Length / v.EmbedDim;
        var merged = Model.Vision.Merge(Compute, hidden, rows);
        cost.ProjectorMs += sw.Elapsed.TotalMilliseconds;
        cost.VisionFlops += Qwen2VlCost.VisionFlops(v, grids.Select(g => g.PatchCount).ToList());
        cost.ProjectorFlops += Qwen2VlCost.MergerFlops(v, rows / v.MergeUnit);

        int d = v.HiddenSize, at = 0;
        var result = new List<Qwen2VlImageEncoding>(images.Count);
        for (int i = 0; i < images.Count; i++)
        {
            var g = images[i].Grid;
            int n = g.PatchCount / v.MergeUnit, gh = g.H / v.SpatialMergeSize, gw = g.W / v.SpatialMergeSize;
            var tokens = merged.AsSpan(at * d, n * d).ToArray();
            at += n;
            if (reduce is null)
            {
                result.Add(new Qwen2VlImageEncoding(new Qwen2VlImageTokens(tokens, n, g), n, g.PatchCount,
                    Enumerable.Range(0, n).Select(TokenProvenance.Single).ToArray(), null, null));
                continue;
            }
            if (g.T != 1) throw new MethodNotApplicableException(reduce.Name, MergedTokenReduction.Model, "reduction of multi-frame inputs is not defined");
            sw.Restart();
            var input = MergedTokenReduction.Input(tokens, gh, gw, d, v.NumHeads, received?.Scores(i), seed + (ulong)i);
            var r = reduce.Reduce(input, Compute);
            cost.ReductionMs += sw.Elapsed.TotalMilliseconds;
            // The identity projector: tokens are merger outputs either way.
            var cells = r.Provenance.Select(p => Cell(p, gw)).ToArray();
            string? note = r.Note ?? (surrogate ? MergedTokenReduction.SurrogateNote(reduce) : null);
            result.Add(new Qwen2VlImageEncoding(new Qwen2VlImageTokens(r.Tokens, r.TokenCount, g, cells), n, g.PatchCount, r.Provenance, r, note));
        }
        return result;
    }

    /// <summary>The merged-grid cell a reduced token takes its M-RoPE position from: its patch, or for a
    /// pooled token the floor of its sources' weighted mean row and column (docs/models/qwen2-vl.md).</summary>
    static (int T, int H, int W) Cell(TokenProvenance p, int gridWidth)
    {
        if (p.Patches.Length == 0) throw new InvalidOperationException("a reduced token without source patches has no M-RoPE position");
        if (p.Patches.Length == 1) return (0, p.Patches[0] / gridWidth, p.Patches[0] % gridWidth);
        double w = 0, row = 0, col = 0;
        for (int i = 0; i < p.Patches.Length; i++)
        {
            w += p.Weights[i];
            row += p.Weights[i] * (p.Patches[i] / gridWidth);
            col += p.Weights[i] * (p.Patches[i] % gridWidth);
        }
        return (0, (int)Math.Floor(row / w + 1e-9), (int)Math.Floor(col / w + 1e-9));
    }

    /// <summary>The ids with image k's run of <c>&lt;|image_pad|&gt;</c> set to <paramref name="counts"/>[k] ids. A
    /// run may hold one pad (the chat template's form) or the image's full merged-token count (the
    /// processor's expansion, as <c>dump --input-ids</c> takes it); anything else is an error.</summary>
    public int[] FitImagePads(int[] ids, IReadOnlyList<int> fullCounts, IReadOnlyList<int> counts)
    {
        var runs = Model.ImagePadRuns(ids);
        if (runs.Count != counts.Count)
            throw new InvalidInputException($"the input ids hold {runs.Count} run(s) of <|image_pad|> ({Model.Config.ImageTokenId}) for {counts.Count} image(s)");
        var result = new List<int>(ids.Length);
        int at = 0;
        for (int k = 0; k < runs.Count; k++)
        {
            var (start, length) = runs[k];
            if (length != 1 && length != fullCounts[k])
                throw new InvalidInputException($"image {k}: its run of <|image_pad|> at {start} has {length} ids; give 1 (expanded here) or the image's {fullCounts[k]} merged tokens");
            result.AddRange(ids.AsSpan(at, start - at));
            result.AddRange(Enumerable.Repeat(Model.Config.ImageTokenId, counts[k]));
            at = start + length;
        }
        result.AddRange(ids.AsSpan(at));
        return result.ToArray();
    }

    /// <summary>Runs the whole pipeline on decoded images and prompt ids with one <c>&lt;|image_pad|&gt;</c>
    /// run per image (one pad, or the full expansion).</summary>
    public RunResult Run(IReadOnlyList<RgbImage> images, int[] ids, RunOptions options, Func<int[], string>? decode = null, CancellationToken cancel = default)
    {
        var sw = Stopwatch.StartNew();
        var prepared = images.Select(im => Prepare(im)).ToList();
        return Run(prepared, ids, options, decode, sw.Elapsed.TotalMilliseconds, cancel);
    }

    /// <summary><see cref="Run(IReadOnlyList{Qwen2VlImagePatches}, int[], RunOptions, Func{int[], string}?, double, CancellationToken)"/>
    /// on a worker thread (no images: a text-only prompt).</summary>
    public Task<RunResult> RunAsync(IReadOnlyList<Qwen2VlImagePatches> images, int[] ids, RunOptions options, Func<int[], string>? decode = null,
        CancellationToken cancel = default) =>
        RunStreaming.RunAsync((g, c) => Run(images, ids, options with { Generation = g }, decode, 0, c), options.Generation, cancel);

    /// <summary>The run as a stream: each generated id as it is sampled, then the finished
    /// <see cref="RunResult"/>. Stopping the enumeration (or cancelling) stops the run.</summary>
    public IAsyncEnumerable<RunUpdate> StreamAsync(IReadOnlyList<Qwen2VlImagePatches> images, int[] ids, RunOptions options, Func<int[], string>? decode = null,
        CancellationToken cancel = default) =>
        RunStreaming.StreamAsync((g, c) => Run(images, ids, options with { Generation = g }, decode, 0, c), options.Generation, cancel);

    /// <summary>The pipeline on preprocessed images: encode (and reduce), fill the pad runs, prefill with
    /// the decoder pruner (per image unless its spec says scope=total), decode.</summary>
    public RunResult Run(IReadOnlyList<Qwen2VlImagePatches> images, int[] ids, RunOptions options, Func<int[], string>? decode = null,
        double preprocessMs = 0, CancellationToken cancel = default)
    {
        var cost = new StageCost();
        if (options.Reducer is null or NoReduction)
        {
            // Without a reduction the prompt's length is known before the tower runs: refuse it first.
            var fitted0 = FitImagePads(ids, images.Select(i => i.MergedTokenCount).ToList(), images.Select(i => i.MergedTokenCount).ToList());
            int context = Model.Config.Text.MaxPositionEmbeddings, visual0 = images.Sum(i => i.MergedTokenCount);
            if (fitted0.Length > context) throw new ContextOverflowException(fitted0.Length, context, $"{fitted0.Length - visual0} text + {visual0} visual");
        }
        var encoded = images.Count == 0 ? [] : Encode(images, options.Reducer, options.Seed, cost, cancel);
        var fitted = FitImagePads(ids, encoded.Select(e => e.TokensBefore).ToList(), encoded.Select(e => e.Count).ToList());
        var seq = Model.Splice(fitted, encoded.Select(e => e.Tokens).ToList());
        var pruning = PrefillPruning.For(options.Pruner, seq, Model.Decoder.Info);
        var gen = Session.Generate(seq, options.Generation, pruning, cancel);
        var notes = encoded.Where(e => e.Note is not null).Select(e => e.Note!).Distinct().ToList();
        if (encoded.Count == 0 && options.TextOnlyNote is { } textOnly) notes.Add(textOnly);
        notes.AddRange(gen.PrefillNotes);
        var first = encoded.Count > 0 ? encoded[0].Tokens.Grid : default;
        int merge = Model.Config.Vision.SpatialMergeSize;
        var report = new RunReport
        {
            Reduction = options.Reducer?.Name ?? "none",
            Pruning = options.Pruner?.Spec ?? "none",
            Threads = Compute.Threads,
            Attention = Compute.Attention,
            Weights = DTypes.Name(Model.Decoder.EmbedTokens.DType),
            Images = encoded.Count,
            VisualTokensBefore = encoded.Sum(e => e.TokensBefore),
            VisualTokens = encoded.Sum(e => e.Count),
            PatchesBeforeMerge = encoded.Sum(e => e.Patches),
            PromptTokens = seq.Length,
            GeneratedTokens = gen.Tokens.Length,
            TokensPerLayer = gen.TokensPerLayer,
            PreprocessMs = preprocessMs,
            VisionMs = cost.VisionMs,
            ReductionMs = cost.ReductionMs,
            ProjectorMs = cost.ProjectorMs,
            PrefillMs = gen.PrefillMs,
            TimeToFirstTokenMs = preprocessMs + cost.VisionMs + cost.ReductionMs + cost.ProjectorMs + gen.TimeToFirstTokenMs,
            DecodeMs = gen.DecodeMs,
            VisionFlops = cost.VisionFlops,
            ProjectorFlops = cost.ProjectorFlops,
            PrefillFlops = CostModel.PrefillFlops(Model.Config.Text, gen.TokensPerLayer),
            KvCacheBytes = gen.KvCacheBytes,
            Notes = notes,
            ReductionResult = encoded.FirstOrDefault()?.Reduction,
            VisualSources = encoded.SelectMany(e => e.Sources).ToArray(),
            ImageSpans = seq.Images.Select(i => (i.Start, i.Count)).ToArray(),
            Grid = new PatchGrid(first.H / merge, first.W / merge),
            DecoderRankings = pruning?.Rankings ?? [],
            KeptPositions = gen.KeptOriginalIndices,
            ImageStart = seq.Images.Count > 0 ? seq.ImageStart : 0,
        };
        return new RunResult { Tokens = gen.Tokens, Text = decode?.Invoke(gen.Tokens), Report = report, Generation = gen };
    }
}

/// <summary>Wall time and FLOPs of the vision stages of one run, summed over its images.</summary>
public sealed class StageCost
{
    public double VisionMs { get; set; }
    public double ProjectorMs { get; set; }
    public double ReductionMs { get; set; }
    public double VisionFlops { get; set; }
    public double ProjectorFlops { get; set; }
}
