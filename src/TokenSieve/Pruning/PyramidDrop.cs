using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>PyramidDrop (METHODS.md §11). At each stage boundary ℓ_i (1-based "after layer ℓ_i", so
/// layers ℓ_i.. run on the reduced sequence) the current hidden states are projected with the
/// <em>next</em> layer's input norm, W_q and W_k; the last token's softmax row (one query, computed
/// here, not taken from the main attention) ranks the visual tokens; the top ⌊n_v0·ρ_{i+1}⌋ survive in
/// original order and position ids are renumbered contiguously.</summary>
public sealed class PyramidDrop : IDecoderPruner
{
    /// <summary>Stage boundaries ℓ_i, ascending, 1-based "after layer ℓ" = 0-based first reduced layer.</summary>
    public IReadOnlyList<int> Layers { get; }
    /// <summary>ρ_{i+1}: the share of the original visual tokens kept after stage i (the loader's list without the leading 1.0).</summary>
    public IReadOnlyList<double> Ratios { get; }

    public string Spec { get; }
    public PositionPolicy Positions => PositionPolicy.Renumber;
    public IReadOnlyList<int> Boundaries => Layers;

    /// <summary>With several images: each keeps int(n_v·ρ) of its own tokens (default) or they compete for int(Σn_v·ρ).</summary>
    public BudgetScope Scope { get; init; } = BudgetScope.PerImage;

    public PyramidDrop(IReadOnlyList<int> layers, IReadOnlyList<double> ratios, string? spec = null)
    {
        Spec = spec ?? $"pdrop:layers={string.Join('/', layers)},ratios={string.Join('/', ratios.Select(r => r.ToString(System.Globalization.CultureInfo.InvariantCulture)))}";
        if (layers.Count == 0) throw new MethodSpecException(Spec, "no stage layers");
        if (layers.Count != ratios.Count) throw new MethodSpecException(Spec, $"{layers.Count} stage layers but {ratios.Count} ratios");
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] < 1) throw new MethodSpecException(Spec, $"stage layer {layers[i]} must be >= 1");
            if (i > 0 && layers[i] <= layers[i - 1]) throw new MethodSpecException(Spec, "stage layers must be strictly ascending");
            if (ratios[i] is <= 0 or > 1) throw new MethodSpecException(Spec, $"ratio {ratios[i]} must be in (0, 1]");
            if (i > 0 && ratios[i] > ratios[i - 1]) throw new MethodSpecException(Spec, "ratios must not increase from stage to stage");
        }
        Layers = layers.ToArray();
        Ratios = ratios.ToArray();
    }

    /// <summary>λ form of the official scripts: ρ_i = λ^i (λ = 0.5 gives 0.5/0.25/0.125).</summary>
    public static PyramidDrop WithLambda(IReadOnlyList<int> layers, double lambda, string? spec = null) =>
        new(layers, Enumerable.Range(1, layers.Count).Select(i => Math.Pow(lambda, i)).ToArray(), spec);

    /// <summary>Visual tokens after stage i for n_v0 original ones: Python's int(n_v0·ρ).</summary>
    public int CountAfter(int stage, int originalVisual) => (int)(originalVisual * Ratios[stage]);

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (Layers[^1] >= decoder.Layers)
            throw new MethodSpecException(Spec, $"stage layer {Layers[^1]} but the decoder has {decoder.Layers} layers (stages must be 1..{decoder.Layers - 1})");
        var originals = Scope == BudgetScope.Total ? [sequence.ImageTokens] : sequence.Images.Select(i => i.Count).ToArray();
        foreach (int originalVisual in originals)
            for (int i = 0; i < Layers.Count; i++)
                if (CountAfter(i, originalVisual) < 1)
                    throw new MethodSpecException(Spec, $"stage {i + 1} keeps int({originalVisual}·{Ratios[i]}) = 0 visual tokens");
        return new Run(this, originals);
    }

    sealed class Run(PyramidDrop method, int[] originals) : IPrunerRun
    {
        /// <summary>Nothing from layer K−1's attention: the ranking row is recomputed with layer K's projections.</summary>
        public DecoderTapRequest Request(int boundary, PruneLayout layout) => new();

        public PruneDecision Prune(PruneState state)
        {
            int stage = IndexOf(method.Layers, state.Layer);
            // Head-mean softmax row of the last token against every token, with layer K's input norm,
            // W_q, W_k and RoPE at the current (contiguous) position ids.
            var row = RowKernels.HeadMean(state.View.ProjectedAttentionRow(state.Layer, state.Length - 1), state.Decoder.Heads, state.Length, 0, state.Length);
            var visual = state.VisualRows();
            var scores = visual.Select(r => row[r]).ToArray();
            var kept = new List<int>();
            if (originals.Length == 1)
                kept.AddRange(Selection.TopKAscending(scores, method.CountAfter(stage, originals[0])));
            else
            {
                int offset = 0;
                for (int i = 0; i < state.Spans.Count; i++)
                {
                    int n = state.Spans[i].Count;
                    foreach (int j in Selection.TopKAscending(scores.AsSpan(offset, n), method.CountAfter(stage, originals[i]))) kept.Add(offset + j);
                    offset += n;
                }
            }
            string counts = string.Join(" + ", originals.Select(o => $"int({o}·{method.Ratios[stage]})"));
            return new PruneDecision
            {
                Keep = state.KeepVisual(kept.ToArray()),
                Note = $"pdrop stage {stage + 1}: visual {state.ImageCount} -> {kept.Count} ({counts})",
            };
        }

        static int IndexOf(IReadOnlyList<int> list, int value)
        {
            for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
            throw new InvalidOperationException($"no stage at layer {value}");
        }
    }
}
