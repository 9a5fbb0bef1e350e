using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>One image's visual rows in the current sequence.</summary>
public readonly record struct VisualSpan(int Start, int Count, int Image)
{
    public int End => Start + Count;
}

/// <summary>Where the visual tokens are at a pruning boundary: the current length and every image's span.</summary>
public sealed record PruneLayout(int Length, IReadOnlyList<VisualSpan> Spans)
{
    public int VisualCount => Spans.Sum(s => s.Count);

    /// <summary>The last row of the last image.</summary>
    public int LastVisualRow => Spans[^1].End - 1;
}

/// <summary>How a budget applies to a prompt with several images.</summary>
public enum BudgetScope
{
    /// <summary>Each image keeps the budget (default).</summary>
    PerImage,

    /// <summary>The images' tokens compete for one budget.</summary>
    Total,
}

/// <summary>The sequence as it stands at a pruning boundary: after layer K−1, before layer K.</summary>
public sealed class PruneState
{
    /// <summary>K: the first layer that will run on the pruned sequence.</summary>
    public required int Layer { get; init; }

    /// <summary>The decoder's view after layer K−1: its output, positions, taps and services.</summary>
    public required DecoderLayerView View { get; init; }

    /// <summary>Every image's visual rows in the current sequence, in order.</summary>
    public required IReadOnlyList<VisualSpan> Spans { get; init; }

    /// <summary>The first visual row (a single image's rows are [ImageStart, ImageStart + ImageCount)).</summary>
    public int ImageStart => Spans[0].Start;

    /// <summary>Visual tokens currently in the sequence, over all images.</summary>
    public int ImageCount => Spans.Sum(s => s.Count);

    public required DecoderTapRequest Request { get; init; }

    /// <summary>The grid cell of each current visual token (all images' rows, in order), and the grids.</summary>
    public required IReadOnlyList<GridCell> ImageCells { get; init; }

    public required IReadOnlyList<PatchGrid> Grids { get; init; }

    public int Length => View.Length;

    /// <summary>Output of layer K−1 (the input of layer K), [Length, Hidden]. Not final-normed.</summary>
    public float[] Hidden => View.Hidden;

    /// <summary>Index of each row in the original prefill sequence (−1 for merged tokens).</summary>
    public int[] OriginalIndices => View.Origins;

    /// <summary>Exact softmax rows of layer K−1 for <see cref="DecoderTapRequest.QueryRows"/>: [rows, heads, Length].</summary>
    public float[]? AttentionRows => View.AttentionRows;

    /// <summary>Post-RoPE keys of layer K−1, [Length, KvDim], when requested.</summary>
    public float[]? Keys => View.Keys;

    public DecoderInfo Decoder => View.Decoder;

    /// <summary>The first row after the last image.</summary>
    public int TextStart => Spans[^1].End;

    /// <summary>Every visual row, ascending.</summary>
    public int[] VisualRows() => Spans.SelectMany(s => Enumerable.Range(s.Start, s.Count)).ToArray();

    /// <summary>The rows to keep: every text row and the visual rows at <paramref name="keptVisual"/>
    /// (indices into <see cref="VisualRows"/>, ascending).</summary>
    public int[] KeepVisual(ReadOnlySpan<int> keptVisual)
    {
        var visual = VisualRows();
        var keep = new bool[Length];
        Array.Fill(keep, true);
        foreach (int r in visual) keep[r] = false;
        foreach (int v in keptVisual) keep[visual[v]] = true;
        return Enumerable.Range(0, Length).Where(r => keep[r]).ToArray();
    }

    /// <summary>The best <paramref name="keep"/> visual tokens by <paramref name="scores"/> (one per visual
    /// row): within each image, or over all images together; indices into <see cref="VisualRows"/>, ascending.</summary>
    public int[] TopVisual(ReadOnlySpan<float> scores, int keep, BudgetScope scope)
    {
        if (scope == BudgetScope.Total || Spans.Count == 1) return Selection.TopKAscending(scores, Math.Min(keep, scores.Length));
        var kept = new List<int>();
        int offset = 0;
        foreach (var span in Spans)
        {
            foreach (int j in Selection.TopKAscending(scores.Slice(offset, span.Count), Math.Min(keep, span.Count))) kept.Add(offset + j);
            offset += span.Count;
        }
        return kept.ToArray();
    }

    /// <summary>The head-mean row of tap <paramref name="r"/> over the visual rows.</summary>
    public float[] VisualScores(int r)
    {
        var row = HeadMeanRow(r);
        return VisualRows().Select(v => row[v]).ToArray();
    }

    /// <summary>Throws when the prompt holds more than one image (methods written for one image's span).</summary>
    public void RequireSingleImage(string spec)
    {
        if (Spans.Count > 1) throw new MethodSpecException(spec, $"this method handles one image per prompt; the prompt has {Spans.Count}");
    }

    /// <summary>Mean over heads of the tapped row r: [Length].</summary>
    public float[] HeadMeanRow(int r) => RowKernels.HeadMean(AttentionRows, Decoder.Heads, Length, r * Decoder.Heads * Length, Length);

    /// <summary>The keep rows of a method that ranks a window of <paramref name="count"/> rows from
    /// <paramref name="start"/>: everything before the window, the window's <paramref name="kept"/>
    /// offsets (ascending), everything after it.</summary>
    public int[] KeepWindow(int start, int count, ReadOnlySpan<int> kept)
    {
        var keep = new int[Length - count + kept.Length];
        int row = 0;
        for (int i = 0; i < start; i++) keep[row++] = i;
        foreach (int j in kept) keep[row++] = start + j;
        for (int i = start + count; i < Length; i++) keep[row++] = i;
        return keep;
    }
}

/// <summary>A pruner's answer: which rows survive, and optionally merged tokens to insert after the
/// kept visual tokens.</summary>
public sealed class PruneDecision
{
    /// <summary>Rows of the current sequence to keep, strictly ascending.</summary>
    public required int[] Keep { get; init; }

    /// <summary>Merged tokens [count, Hidden] inserted after the kept visual tokens (SparseVLM's recycling).</summary>
    public float[]? Inserted { get; init; }

    public int InsertedCount { get; init; }

    /// <summary>For each merged token, the current row whose position id it takes where original
    /// positions are kept (M-RoPE models); see <see cref="KeepDecision.InsertedPositionRows"/>.</summary>
    public int[]? InsertedPositionRows { get; init; }

    /// <summary>The score that ranked the visual tokens of this stage (one per current visual token), for
    /// position statistics; null for methods without one.</summary>
    public float[]? Scores { get; init; }

    /// <summary>Free text for the run report (per-layer counts, fallbacks).</summary>
    public string? Note { get; init; }
}

/// <summary>A configured method that drops (or merges) tokens between decoder layers during prefill.
/// Stateless: <see cref="Begin"/> returns the per-run state, so one instance serves many items and
/// threads.</summary>
public interface IDecoderPruner
{
    string Spec { get; }

    PositionPolicy Positions { get; }

    /// <summary>The layers K (ascending) before which this pruner acts. K ≥ 1.</summary>
    IReadOnlyList<int> Boundaries { get; }

    /// <summary>Checks the budgets against this sequence and decoder and starts one prefill (SparseVLM
    /// picks its raters from the layer-0 input here).</summary>
    IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder);
}

/// <summary>One prefill of a <see cref="IDecoderPruner"/>: the state that lives for one run.</summary>
public interface IPrunerRun
{
    /// <summary>What layer K−1 must expose for the boundary at K, given where the visual tokens are now.</summary>
    DecoderTapRequest Request(int boundary, PruneLayout layout);

    PruneDecision Prune(PruneState state);
}
