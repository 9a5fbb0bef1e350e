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

    int _originalVisual;

    public PyramidDrop(IReadOnlyList<int> layers, IReadOnlyList<double> ratios, string? spec = null)
    {
        Spec = spec ?? $"pdrop:layers={string.Join('/', layers)},ratios={string.Join('/', ratios.Select(r => r.ToString(System.Globalization.CultureInfo.InvariantCulture)))}";
        if (layers.Count == 0) throw new ReductionSpecException(Spec, "no stage layers");
        if (layers.Count != ratios.Count) throw new ReductionSpecException(Spec, $"{layers.Count} stage layers but {ratios.Count} ratios");
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] < 1) throw new ReductionSpecException(Spec, $"stage layer {layers[i]} must be >= 1");
            if (i > 0 && layers[i] <= layers[i - 1]) throw new ReductionSpecException(Spec, "stage layers must be strictly ascending");
            if (ratios[i] is <= 0 or > 1) throw new ReductionSpecException(Spec, $"ratio {ratios[i]} must be in (0, 1]");
            if (i > 0 && ratios[i] > ratios[i - 1]) throw new ReductionSpecException(Spec, "ratios must not increase from stage to stage");
        }
        Layers = layers.ToArray();
        Ratios = ratios.ToArray();
    }

    /// <summary>λ form of the official scripts: ρ_i = λ^i (λ = 0.5 gives 0.5/0.25/0.125).</summary>
    public static PyramidDrop WithLambda(IReadOnlyList<int> layers, double lambda, string? spec = null) =>
        new(layers, Enumerable.Range(1, layers.Count).Select(i => Math.Pow(lambda, i)).ToArray(), spec);

    internal static PyramidDrop FromSpec(SpecOptions o)
    {
        int[] layers = o.IntList("layers", 1, 4096) ?? [8, 16, 24];
        double? lambda = o.OptionalDouble("lambda", 0, 1, exclusiveMin: true);
        double[]? ratios = o.DoubleList("ratios", 0, 1, exclusiveMin: true);
        o.EnsureAllUsed("layers", "lambda", "ratios");
        if (lambda is not null && ratios is not null) throw new ReductionSpecException(o.Spec, "give either lambda or ratios, not both");
        return ratios is not null ? new PyramidDrop(layers, ratios, o.Spec) : WithLambda(layers, lambda ?? 0.5, o.Spec);
    }

    /// <summary>Visual tokens after stage i for n_v0 original ones: Python's int(n_v0·ρ).</summary>
    public int CountAfter(int stage, int originalVisual) => (int)(originalVisual * Ratios[stage]);

    public void Begin(SplicedSequence sequence, LlamaDecoder decoder, ComputeContext compute)
    {
        if (Layers[^1] >= decoder.LayerCount)
            throw new ReductionSpecException(Spec, $"stage layer {Layers[^1]} but the decoder has {decoder.LayerCount} layers (stages must be 1..{decoder.LayerCount - 1})");
        _originalVisual = sequence.ImageTokens;
        for (int i = 0; i < Layers.Count; i++)
            if (CountAfter(i, _originalVisual) < 1)
                throw new ReductionSpecException(Spec, $"stage {i + 1} keeps int({_originalVisual}·{Ratios[i]}) = 0 visual tokens");
    }

    /// <summary>Nothing from layer K−1's attention: the ranking row is recomputed with layer K's projections.</summary>
    public AttentionRequest Request(int boundary, int length, int imageStart, int imageCount) => new();

    public PruneDecision Prune(PruneState state)
    {
        int stage = IndexOf(Layers, state.Layer);
        int nCur = state.ImageCount, nNext = CountAfter(stage, _originalVisual);
        var row = LastTokenAttention(state);
        var kept = Ranking.TopKAscending(row.AsSpan(state.ImageStart, nCur), nNext);
        var keep = new List<int>(state.Length - nCur + nNext);
        for (int i = 0; i < state.ImageStart; i++) keep.Add(i);
        foreach (int j in kept) keep.Add(state.ImageStart + j);
        for (int i = state.TextStart; i < state.Length; i++) keep.Add(i);
        return new PruneDecision
        {
            Keep = keep.ToArray(),
            Note = $"pdrop stage {stage + 1}: visual {nCur} -> {nNext} (int({_originalVisual}·{Ratios[stage]}))",
        };
    }

    static int IndexOf(IReadOnlyList<int> list, int value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        throw new InvalidOperationException($"no stage at layer {value}");
    }

    /// <summary>Head-mean softmax row of the last token against every token, using layer K's input norm,
    /// W_q, W_k and RoPE at the current (contiguous) position ids: [Length]. Memory O(L·KvDim).</summary>
    static float[] LastTokenAttention(PruneState s)
    {
        var cfg = s.Decoder.Config;
        int d = cfg.HiddenSize, kv = cfg.KvDim, n = s.Length;
        var (norm, wq, wk) = s.Decoder.AttentionProjections(s.Layer);
        var normed = new float[n * d];
        norm.RmsNorm(s.Hidden.AsSpan(0, n * d), n, normed);
        var keys = new float[n * kv];
        wk.Forward(s.Compute, normed, n, keys);
        var query = new float[d];
        wq.Forward(s.Compute, normed.AsSpan((n - 1) * d, d), 1, query);
        s.Decoder.Rope.Apply(keys, n, kv, cfg.NumKeyValueHeads, s.Positions.AsSpan(0, n));
        s.Decoder.Rope.Apply(query, 1, d, cfg.NumAttentionHeads, s.Positions.AsSpan(n - 1, 1));
        // One query that sits at the last key: with Causal, query 0 sees keys 0..n−1.
        var shape = new AttentionShape(1, n, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim, 1f / MathF.Sqrt(cfg.HeadDim), Causal: true);
        var probs = new float[cfg.NumAttentionHeads * n];
        Attention.RowProbabilities(s.Compute, query, d, keys, kv, [0], shape, probs);
        var mean = new float[n];
        for (int h = 0; h < cfg.NumAttentionHeads; h++)
            System.Numerics.Tensors.TensorPrimitives.Add(mean, probs.AsSpan(h * n, n), mean);
        System.Numerics.Tensors.TensorPrimitives.Multiply(mean, 1f / cfg.NumAttentionHeads, mean);
        return mean;
    }
}
