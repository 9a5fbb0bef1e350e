using TokenSieve.Models;

namespace TokenSieve.Pruning;

/// <summary>The pruning protocol of one prefill (METHODS.md §0.2), as a decoder hook: at each of the
/// pruner's boundaries K it asks layer K−1 for the pruner's taps, hands the pruner the sequence after
/// that layer, and turns the pruner's answer into a keep decision for layer K, tracking where the
/// visual tokens are as rows are dropped and merged tokens inserted.</summary>
public sealed class PrefillPruning : IDecoderHook
{
    readonly IDecoderPruner _pruner;
    readonly IPrunerRun _run;
    readonly SplicedSequence _sequence;
    readonly List<StageRanking> _rankings = new();
    List<VisualSpan> _spans;
    DecoderTapRequest? _pending;

    PrefillPruning(IDecoderPruner pruner, IPrunerRun run, SplicedSequence sequence)
    {
        _pruner = pruner;
        _run = run;
        _sequence = sequence;
        _spans = sequence.Images.Select((im, i) => new VisualSpan(im.Start, im.Count, i)).ToList();
    }

    /// <summary>The ranking signal of every stage that reported one, by original visual-token index.</summary>
    public IReadOnlyList<StageRanking> Rankings => _rankings;

    /// <summary>Checks the pruner's boundaries against the decoder and starts its run on this sequence.</summary>
    /// <summary>The pruning of one prefill, or null when there is nothing to prune: no pruner, or a
    /// sequence without visual tokens (a text-only prompt).</summary>
    public static PrefillPruning? For(IDecoderPruner? pruner, SplicedSequence sequence, DecoderInfo decoder) =>
        pruner is null || sequence.Images.Count == 0 ? null : Begin(pruner, sequence, decoder);

    public static PrefillPruning Begin(IDecoderPruner pruner, SplicedSequence sequence, DecoderInfo decoder)
    {
        var run = pruner.Begin(sequence, decoder);
        foreach (int k in pruner.Boundaries)
            if (k < 1 || k >= decoder.Layers) throw new InvalidInputException($"pruner '{pruner.Spec}': layer {k} is outside 1..{decoder.Layers - 1}");
        return new PrefillPruning(pruner, run, sequence);
    }

    public DecoderTapRequest? Taps(int layer, int length)
    {
        _pending = _pruner.Boundaries.Contains(layer + 1) ? _run.Request(layer + 1, new PruneLayout(length, _spans)) : null;
        return _pending;
    }

    public KeepDecision? AfterLayer(DecoderLayerView view)
    {
        // Each current visual row's original visual index (−1 for a merged token) and grid cell.
        var layout = _sequence.Layout;
        int visualCount = _spans.Sum(x => x.Count);
        var visual = new int[visualCount];
        var cells = new GridCell[visualCount];
        int at = 0;
        foreach (var span in _spans)
            for (int r = span.Start; r < span.End; r++, at++)
            {
                int origin = view.Origins[r];
                visual[at] = origin < 0 ? -1 : VisualIndex(origin);
                cells[at] = visual[at] < 0 ? GridCell.None : layout.Tokens[visual[at]];
            }
        var state = new PruneState { Layer = view.Layer + 1, View = view, Spans = _spans, Request = _pending!, ImageCells = cells, Grids = layout.Grids };
        var decision = _run.Prune(state);
        if (decision.Scores is { } scores)
        {
            if (scores.Length != visualCount) throw new InvalidOperationException($"pruner '{_pruner.Spec}' returned {scores.Length} scores for {visualCount} visual tokens");
            _rankings.Add(new StageRanking(state.Layer, visual, scores));
        }
        var keep = decision.Keep;
        int inserted = decision.Inserted is null ? 0 : decision.InsertedCount;
        if (inserted > 0 && _spans.Count > 1) throw new InvalidOperationException($"pruner '{_pruner.Spec}' inserts merged tokens into a prompt with several images");
        // Merged tokens go right after the last kept visual token (before the text).
        int insertAt = keep.Count(r => r < state.TextStart);
        var spans = new List<VisualSpan>(_spans.Count);
        foreach (var span in _spans)
        {
            int start = 0, count = 0;
            foreach (int r in keep)
            {
                if (r < span.Start) start++;
                else if (r < span.End) count++;
            }
            spans.Add(new VisualSpan(start, count + inserted, span.Image));
        }
        _spans = spans;
        return new KeepDecision
        {
            Rows = keep, Inserted = decision.Inserted, InsertedCount = inserted, InsertAt = insertAt, Positions = _pruner.Positions, Note = decision.Note,
            InsertedPositionRows = decision.InsertedPositionRows,
        };
    }

    /// <summary>The index among all visual tokens (images one after another) of an original sequence row.</summary>
    int VisualIndex(int origin)
    {
        int before = 0;
        foreach (var image in _sequence.Images)
        {
            if (origin >= image.Start && origin < image.End) return before + origin - image.Start;
            before += image.Count;
        }
        throw new InvalidOperationException($"row {origin} of the prompt is not a visual token");
    }
}

/// <summary>The scores that ranked the visual tokens at one pruning boundary: <see cref="VisualIndices"/>
/// are the original visual-token indices (−1 for merged tokens) of the scored rows.</summary>
public sealed record StageRanking(int Layer, int[] VisualIndices, float[] Scores);

/// <summary>Prefill and generation with a decoder pruner.</summary>
public static class PruningSessions
{
    /// <summary><see cref="InferenceSession.Prefill"/> with <paramref name="pruner"/> driving the layer hooks.</summary>
    public static PrefillResult Prefill(this InferenceSession session, SplicedSequence seq, int extraCapacity, PrefillOptions? options, IDecoderPruner? pruner,
        CancellationToken cancel = default) =>
        session.Prefill(seq, extraCapacity, options, Hook(session, seq, pruner), cancel);

    /// <summary><see cref="InferenceSession.Generate"/> with <paramref name="pruner"/> driving the layer hooks.</summary>
    public static GenerationResult Generate(this InferenceSession session, SplicedSequence seq, GenerationOptions options, IDecoderPruner? pruner,
        CancellationToken cancel = default) =>
        session.Generate(seq, options, Hook(session, seq, pruner), cancel);

    static PrefillPruning? Hook(InferenceSession session, SplicedSequence seq, IDecoderPruner? pruner) =>
        PrefillPruning.For(pruner, seq, session.Decoder.Info);
}
