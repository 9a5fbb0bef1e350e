using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>Which attention row ranks the visual tokens.</summary>
public enum FastVQuery
{
    /// <summary>The last sequence position (FastV, METHODS.md §9).</summary>
    Last,

    /// <summary>The last image token, no language (FastV_VIS, §15.2).</summary>
    LastVisual,
}

/// <summary>FastV, in-place variant (<c>fast_v_inplace</c>, METHODS.md §9): layers 0..K−1 see every
/// token; the head-mean attention of the last prompt token in layer K−1 ranks the visual tokens; the
/// top <c>keep</c> survive with their original position ids and layers K.. run on the shorter
/// sequence. Only that one attention row per head is computed (a row tap), never the L×L map.
/// The rethinking paper's probes are options: <c>window=S</c> (§15.1, spatial quotas over S×S
/// windows of the patch grid) and <c>query=last-visual</c> (§15.2, FastV_VIS).</summary>
public sealed class FastV : IDecoderPruner
{
    /// <summary>K: the first layer that runs on the pruned sequence (≥ 1).</summary>
    public int Layer { get; }

    /// <summary>Visual tokens kept (ATTENTION_RANK), or null to use <see cref="DropRatio"/>.</summary>
    public int? Keep { get; }

    /// <summary>Drop ratio R of the HF variant: keep = round(n_v·(1−R)), Python rounding.</summary>
    public double DropRatio { get; }

    /// <summary>Absolute start of the ranked window instead of the detected image start. The official
    /// scripts' SYS_LENGTH = 36 with the image at 35 is <c>start=36</c> (quirk, §9).</summary>
    public int? StartOverride { get; }

    /// <summary>§15.1: the side S of the spatial windows, or null for plain FastV.</summary>
    public int? Window { get; }

    public FastVQuery Query { get; }

    /// <summary>With several images: <c>keep</c> per image (default) or for all of them together.</summary>
    public BudgetScope Scope { get; }

    public string Spec { get; }

    public PositionPolicy Positions => PositionPolicy.KeepOriginal;

    public IReadOnlyList<int> Boundaries { get; }

    public FastV(int layer = 2, int? keep = null, double dropRatio = 0.5, int? startOverride = null, string? spec = null, int? window = null, FastVQuery query = FastVQuery.Last,
        BudgetScope scope = BudgetScope.PerImage)
    {
        Spec = spec ?? $"fastv:k={layer}," + (keep is { } m ? $"keep={m}" : $"ratio={dropRatio}") + (startOverride is { } s ? $",start={s}" : "")
            + (window is { } w ? $",window={w}" : "") + (query == FastVQuery.LastVisual ? ",query=last-visual" : "");
        if (layer < 1) throw new MethodSpecException(Spec, $"k = {layer}: the in-place variant needs K >= 1 (it reads the attention of layer K-1)");
        if (keep is < 1) throw new MethodSpecException(Spec, $"keep = {keep} must be at least 1");
        if (dropRatio is < 0 or >= 1) throw new MethodSpecException(Spec, $"ratio = {dropRatio} must be in [0, 1)");
        if (window is < 1) throw new MethodSpecException(Spec, $"window = {window} must be at least 1");
        if (startOverride is not null && (window is not null || query != FastVQuery.Last))
            throw new MethodSpecException(Spec, "start= moves the ranked window by hand (the official scripts' quirk); it does not combine with window= or query=");
        Layer = layer;
        Keep = keep;
        DropRatio = dropRatio;
        StartOverride = startOverride;
        Window = window;
        Query = query;
        Scope = scope;
        Boundaries = [layer];
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layer >= decoder.Layers) throw new MethodSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        if (StartOverride is not null && sequence.Images.Count > 1) throw new MethodSpecException(Spec, "start= moves one image's ranked window; the prompt has several images");
        // The budget per image (or over all of them): keep, or round(n_v·(1 − R)) of each image's tokens.
        var counts = Scope == BudgetScope.Total || sequence.Images.Count == 1 ? [sequence.ImageTokens] : sequence.Images.Select(i => i.Count).ToArray();
        var keeps = counts.Select(nv => Keep ?? (int)Math.Round(nv * (1 - DropRatio), MidpointRounding.ToEven)).ToArray();
        for (int i = 0; i < counts.Length; i++)
        {
            string of = counts.Length > 1 ? $" of image {i + 1}" : "";
            if (keeps[i] > counts[i]) throw new MethodSpecException(Spec, $"keep = {keeps[i]} is more than the {counts[i]} visual tokens{of} in the sequence");
            if (keeps[i] < 1) throw new MethodSpecException(Spec, $"ratio = {DropRatio} keeps no visual token{of} of {counts[i]}");
        }
        if (StartOverride is { } s && s + sequence.ImageTokens > sequence.Length)
            throw new MethodSpecException(Spec, $"start = {s}: the ranked window [{s}, {s + sequence.ImageTokens}) runs past the sequence of {sequence.Length} tokens");
        if (Window is { } w)
            foreach (var g in sequence.Layout.Grids)
                if (g.Height % w != 0 || g.Width % w != 0)
                    throw new MethodSpecException(Spec, $"window = {w} does not tile the {g.Height}x{g.Width} patch grid (both sides must be multiples of S)");
        return new Run(this, keeps);
    }

    sealed class Run(FastV method, int[] keeps) : IPrunerRun
    {
        bool PerImage(PruneLayout layout) => method.Scope == BudgetScope.PerImage && layout.Spans.Count > 1;

        /// <summary>FastV: the last position. FastV_VIS: each image's last token (per image), else the last visual row.</summary>
        public DecoderTapRequest Request(int boundary, PruneLayout layout) => new()
        {
            QueryRows = method.Query == FastVQuery.Last ? [layout.Length - 1]
                : PerImage(layout) ? layout.Spans.Select(s => s.End - 1).ToArray() : [layout.LastVisualRow],
        };

        public PruneDecision Prune(PruneState state)
        {
            if (method.StartOverride is { } start)
            {
                // The official scripts' quirk: a hand-placed window of n_v rows, one image.
                int nv = state.ImageCount;
                var window = state.HeadMeanRow(0).AsSpan(start, nv).ToArray();
                return new PruneDecision
                {
                    Keep = state.KeepWindow(start, nv, Selection.TopKAscending(window, keeps[0])),
                    Note = $"fastv: kept {keeps[0]} of {nv} rows from row {start} by the last token's head-mean attention in layer {state.Layer - 1}",
                };
            }
            // The code ranks by one query's row (the paper says "attention received from all tokens").
            var scores = Scores(state);
            int[] kept;
            if (method.Window is { } w)
                kept = PerImage(new PruneLayout(state.Length, state.Spans))
                    ? PerSpan(state, (offset, span, i) =>
                    {
                        var (cells, grids) = ImageGrids(state, offset, span.Count);
                        return WindowSelect(scores.AsSpan(offset, span.Count), cells, grids, w, keeps[i]);
                    })
                    : WindowSelect(scores, state.ImageCells, state.Grids, w, keeps[0]);
            else
                kept = PerImage(new PruneLayout(state.Length, state.Spans))
                    ? PerSpan(state, (offset, span, i) => Selection.TopKAscending(scores.AsSpan(offset, span.Count), keeps[i]))
                    : Selection.TopKAscending(scores, keeps[0]);
            string query = method.Query == FastVQuery.LastVisual ? "the last image token's" : "the last token's";
            return new PruneDecision
            {
                Keep = state.KeepVisual(kept),
                Scores = scores,
                Note = $"fastv: kept {kept.Length} of {state.ImageCount} visual tokens by {query} head-mean attention in layer {state.Layer - 1}"
                    + (method.Window is { } s ? $", at least {keeps.Min() / Math.Max(1, Windows(state.Grids, s))} per {s}x{s} window" : ""),
            };
        }

        /// <summary>Each visual row's score: its column of the query row (per image: that image's own query row for FastV_VIS).</summary>
        float[] Scores(PruneState state)
        {
            var visual = state.VisualRows();
            if (method.Query == FastVQuery.Last || !PerImage(new PruneLayout(state.Length, state.Spans))) return state.VisualScores(0);
            var scores = new float[visual.Length];
            int offset = 0;
            for (int i = 0; i < state.Spans.Count; i++)
            {
                var row = state.HeadMeanRow(i);
                for (int j = 0; j < state.Spans[i].Count; j++) scores[offset + j] = row[visual[offset + j]];
                offset += state.Spans[i].Count;
            }
            return scores;
        }

        /// <summary>One image's cells and grids, its grids renumbered from 0.</summary>
        static (GridCell[] Cells, PatchGrid[] Grids) ImageGrids(PruneState state, int offset, int count)
        {
            var cells = state.ImageCells.Skip(offset).Take(count).ToArray();
            var used = cells.Where(c => !c.IsNone).Select(c => c.Grid).Distinct().Order().ToArray();
            var local = used.Select((g, k) => (g, k)).ToDictionary(x => x.g, x => x.k);
            return (cells.Select(c => c.IsNone ? c : c with { Grid = local[c.Grid] }).ToArray(), used.Select(g => state.Grids[g]).ToArray());
        }

        /// <summary>Selects within each image's span and returns indices into all visual rows.</summary>
        static int[] PerSpan(PruneState state, Func<int, VisualSpan, int, int[]> select)
        {
            var kept = new List<int>();
            int offset = 0;
            for (int i = 0; i < state.Spans.Count; i++)
            {
                foreach (int j in select(offset, state.Spans[i], i)) kept.Add(offset + j);
                offset += state.Spans[i].Count;
            }
            return kept.ToArray();
        }
    }

    static int Windows(IReadOnlyList<PatchGrid> grids, int s) => grids.Sum(g => g.Height / s * (g.Width / s));

    /// <summary>§15.1 steps 2–4: the q = ⌊M/n⌋ best tokens of each of the n S×S windows (the whole
    /// window when q ≥ S²), then the best of the rest over all tokens (tokens without a grid cell
    /// compete only here) until M are kept. Ties: higher score, then lower index. Ascending.</summary>
    public static int[] WindowSelect(ReadOnlySpan<float> scores, IReadOnlyList<GridCell> cells, IReadOnlyList<PatchGrid> grids, int s, int keep)
    {
        int n = scores.Length;
        if (cells.Count != n) throw new ArgumentException($"{cells.Count} grid cells for {n} scores", nameof(cells));
        if ((uint)keep > (uint)n || keep < 1) throw new ArgumentOutOfRangeException(nameof(keep), $"keep {keep} of {n}");
        int windows = Windows(grids, s);
        int quota = windows == 0 ? 0 : keep / windows;
        var taken = new bool[n];
        int count = 0;
        if (quota > 0)
        {
            // window id: grids one after another, windows in raster order of their top-left patch
            var offsets = new int[grids.Count];
            for (int g = 1; g < grids.Count; g++) offsets[g] = offsets[g - 1] + grids[g - 1].Height / s * (grids[g - 1].Width / s);
            var members = new List<int>[windows];
            for (int i = 0; i < windows; i++) members[i] = [];
            for (int j = 0; j < n; j++)
            {
                var c = cells[j];
                if (c.IsNone) continue;
                members[offsets[c.Grid] + c.Row / s * (grids[c.Grid].Width / s) + c.Col / s].Add(j);
            }
            foreach (var m in members)
            {
                var local = new float[m.Count];
                for (int i = 0; i < m.Count; i++) local[i] = scores[m[i]];
                foreach (int i in Selection.TopK(local, Math.Min(quota, m.Count))) { taken[m[i]] = true; count++; }
            }
        }
        if (count < keep)
        {
            var rest = new List<int>(n - count);
            for (int j = 0; j < n; j++) if (!taken[j]) rest.Add(j);
            var restScores = new float[rest.Count];
            for (int i = 0; i < rest.Count; i++) restScores[i] = scores[rest[i]];
            foreach (int i in Selection.TopK(restScores, keep - count)) taken[rest[i]] = true;
        }
        var result = new List<int>(keep);
        for (int j = 0; j < n; j++) if (taken[j]) result.Add(j);
        return result.ToArray();
    }
}
