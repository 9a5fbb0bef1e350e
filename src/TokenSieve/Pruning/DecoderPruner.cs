using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>The sequence as it stands at a pruning boundary: after layer K−1, before layer K.</summary>
public sealed class PruneState
{
    /// <summary>K: the first layer that will run on the pruned sequence.</summary>
    public required int Layer { get; init; }

    /// <summary>The decoder's view after layer K−1: its output, positions, taps and services.</summary>
    public required DecoderLayerView View { get; init; }

    /// <summary>Visual tokens currently in the sequence: rows [ImageStart, ImageStart + ImageCount).</summary>
    public required int ImageStart { get; init; }

    public required int ImageCount { get; init; }

    public required DecoderTapRequest Request { get; init; }

    /// <summary>The grid cell of each current visual token (rows ImageStart.., in order), and the grids.</summary>
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

    public int TextStart => ImageStart + ImageCount;

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
    /// <summary>What layer K−1 must expose for the boundary at K, given the current sequence layout.</summary>
    DecoderTapRequest Request(int boundary, int length, int imageStart, int imageCount);

    PruneDecision Prune(PruneState state);
}
