using System.Globalization;
using System.Text;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>SparseVLM v1.5 (METHODS.md §10). Raters: the post-image text tokens whose mean
/// visual→text softmax weight (from the layer-0 input embeddings) is above average. At each pruning
/// layer ℓ the layer runs on the full current sequence; the head-mean attention of the rater rows
/// (a row tap of layer ℓ) ranks the visual tokens; the top min(b_i, n_v−1) stay in original order,
/// and the top 30% of the pruned ones are recycled by DPC-kNN into a few merged tokens inserted after
/// them. Position ids are renumbered; in decoding every layer uses its own cache length.</summary>
public sealed class SparseVlm : IDecoderPruner
{
    /// <summary>v1.5 per-stage budgets for RETAIN_TOKN (the layer-averaged visual count, not the LLM input count).</summary>
    public static readonly IReadOnlyDictionary<int, int[]> BudgetTable = new Dictionary<int, int[]>
    {
        [192] = [300, 200, 110],
        [128] = [303, 110, 36],
        [96] = [238, 48, 26],
        [64] = [66, 30, 17],
    };

    public static readonly int[] DefaultLayers = [2, 6, 15];

    /// <summary>The RETAIN_TOKN label (192/128/96/64), or null with custom budgets.</summary>
    public int? Retain { get; }
    /// <summary>0-based layers whose <em>output</em> is pruned (the reference's {2, 6, 15}).</summary>
    public IReadOnlyList<int> PruneLayers { get; }
    public IReadOnlyList<int> Budgets { get; }
    /// <summary>Recycle the top 30% of pruned tokens into DPC-kNN clusters (v1.x); off drops them.</summary>
    public bool Recycle { get; }

    public string Spec { get; }
    public PositionPolicy Positions => PositionPolicy.Renumber;
    public IReadOnlyList<int> Boundaries { get; }

    public SparseVlm(int? retain, IReadOnlyList<int> pruneLayers, IReadOnlyList<int> budgets, bool recycle = true, string? spec = null)
    {
        Spec = spec ?? $"sparsevlm:{(retain is { } r ? r + "," : "")}layers={string.Join('/', pruneLayers)},budgets={string.Join('/', budgets)}{(recycle ? "" : ",recycle=false")}";
        if (pruneLayers.Count == 0) throw new MethodSpecException(Spec, "no pruning layers");
        if (pruneLayers.Count != budgets.Count) throw new MethodSpecException(Spec, $"{pruneLayers.Count} pruning layers but {budgets.Count} budgets");
        for (int i = 0; i < pruneLayers.Count; i++)
        {
            if (pruneLayers[i] < 0) throw new MethodSpecException(Spec, $"pruning layer {pruneLayers[i]} must be >= 0");
            if (i > 0 && pruneLayers[i] <= pruneLayers[i - 1]) throw new MethodSpecException(Spec, "pruning layers must be strictly ascending");
            if (budgets[i] < 1) throw new MethodSpecException(Spec, $"budget {budgets[i]} must be at least 1");
        }
        Retain = retain;
        PruneLayers = pruneLayers.ToArray();
        Budgets = budgets.ToArray();
        Recycle = recycle;
        Boundaries = PruneLayers.Select(l => l + 1).ToArray();
    }

    /// <summary>The reference configuration for RETAIN_TOKN ∈ {192, 128, 96, 64}.</summary>
    public static SparseVlm ForRetain(int retain) =>
        BudgetTable.TryGetValue(retain, out var b) ? new SparseVlm(retain, DefaultLayers, b)
            : throw new MethodSpecException($"sparsevlm:{retain}", $"budget {retain} is not one of {string.Join(", ", BudgetTable.Keys)} (give budgets=b1/b2/b3 for others)");

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (sequence.Images.Count > 1) throw new MethodSpecException(Spec, $"SparseVLM rates one image's tokens by the text after it; the prompt has {sequence.Images.Count} images");
        if (PruneLayers[^1] >= decoder.Layers - 1)
            throw new MethodSpecException(Spec, $"pruning layer {PruneLayers[^1]} but the decoder has {decoder.Layers} layers (pruning layers must be 0..{decoder.Layers - 2}: a later layer must run on the result)");
        int nv = sequence.ImageTokens;
        if (Budgets[0] >= nv)
            throw new MethodSpecException(Spec, $"first-stage budget {Budgets[0]} needs more than {nv} visual tokens (the sequence has {nv}); give smaller budgets=…");
        return new Run(this, SelectRaters(sequence, decoder.HiddenSize), decoder.Layers, nv);
    }

    /// <summary>Rater selection from the layer-0 input: P = softmax over text of V·Tᵀ (no scaling) per
    /// visual token; r_t = mean over visual tokens; raters = {t : r_t > mean r} (strict), ascending.</summary>
    public static int[] SelectRaters(SplicedSequence seq, int d)
    {
        int s = seq.ImageStart, nv = seq.ImageTokens, textStart = s + nv, nt = seq.Length - textStart;
        if (nt < 2) throw new InvalidInputException($"SparseVLM needs at least two text tokens after the image to choose raters; the sequence has {nt}");
        var e = seq.Embeddings;
        var relevance = new double[nt];
        var logits = new float[nt];
        for (int v = 0; v < nv; v++)
        {
            var vi = e.AsSpan((s + v) * d, d);
            for (int t = 0; t < nt; t++)
                logits[t] = System.Numerics.Tensors.TensorPrimitives.Dot(vi, e.AsSpan((textStart + t) * d, d));
            // TensorPrimitives.SoftMax does not subtract the maximum: unscaled V·T logits of a real
            // model pass 88 and overflow exp to Inf (NaN relevances, no rater). torch.softmax
            // subtracts it; so do we.
            System.Numerics.Tensors.TensorPrimitives.Subtract(logits, System.Numerics.Tensors.TensorPrimitives.Max(logits), logits);
            System.Numerics.Tensors.TensorPrimitives.SoftMax(logits, logits);
            for (int t = 0; t < nt; t++) relevance[t] += logits[t];
        }
        double mean = 0;
        for (int t = 0; t < nt; t++) { relevance[t] /= nv; mean += relevance[t]; }
        mean /= nt;
        var raters = Enumerable.Range(0, nt).Where(t => relevance[t] > mean).ToArray();
        if (raters.Length == 0) throw new InvalidInputException("SparseVLM found no rater: every text token has the same relevance");
        return raters;
    }

    sealed class Run(SparseVlm method, int[] raters, int layers, int originalVisual) : IPrunerRun
    {
        readonly List<(int Layer, int Count)> _visualAfter = new();

        public DecoderTapRequest Request(int boundary, PruneLayout layout)
        {
            // Rater offsets are re-based on the current text start (text tokens are never dropped).
            int textStart = layout.Spans[0].End;
            return new DecoderTapRequest { QueryRows = raters.Select(t => textStart + t).ToArray() };
        }

        public PruneDecision Prune(PruneState state)
        {
            int stage = Array.IndexOf((int[])method.Boundaries, state.Layer);
            int s = state.ImageStart, nv = state.ImageCount, d = state.Decoder.HiddenSize;
            // rel_j = mean over raters of the head-mean attention of rater → visual token j.
            var rel = new float[nv];
            for (int r = 0; r < raters.Length; r++)
                System.Numerics.Tensors.TensorPrimitives.Add(rel, state.HeadMeanRow(r).AsSpan(s, nv), rel);
            System.Numerics.Tensors.TensorPrimitives.Multiply(rel, 1f / raters.Length, rel);

            // At least one visual token is always pruned (the reference's min(b, n_v − 1)).
            int keepCount = Math.Min(method.Budgets[stage], nv - 1);
            var keptSet = Selection.TopKAscending(rel, keepCount);
            var keep = state.KeepWindow(s, nv, keptSet);

            float[]? merged = null;
            int[]? centreRows = null;
            int clusters = 0;
            if (method.Recycle)
            {
                var isKept = new bool[nv];
                foreach (int j in keptSet) isKept[j] = true;
                var pruned = Enumerable.Range(0, nv).Where(j => !isKept[j]).ToArray();
                int recycled = (int)(pruned.Length * 0.3) + 1;
                var prunedRel = pruned.Select(j => rel[j]).ToArray();
                var chosen = Selection.TopK(prunedRel, recycled);
                clusters = recycled / 10 + 1;
                var x = new float[recycled * d];
                for (int i = 0; i < recycled; i++)
                    state.Hidden.AsSpan((s + pruned[chosen[i]]) * d, d).CopyTo(x.AsSpan(i * d, d));
                var dpc = DpcKnn.ClusterAndMerge(x, recycled, d, clusters);
                merged = dpc.Merged;
                // Where positions stay original (M-RoPE), a merged token sits at its cluster centre's place.
                centreRows = dpc.Centres.Select(k => s + pruned[chosen[k]]).ToArray();
            }
            int after = keepCount + clusters;
            _visualAfter.Add((state.Layer - 1, after));
            var note = new StringBuilder().Append(CultureInfo.InvariantCulture, $"sparsevlm stage {stage + 1} (output of layer {state.Layer - 1}): visual {nv} -> {keepCount} kept + {clusters} merged = {after}");
            if (stage == method.Budgets.Count - 1) note.Append("; ").Append(LayerSummary(_visualAfter, originalVisual, layers));
            return new PruneDecision { Keep = keep, Inserted = merged, InsertedCount = clusters, InsertedPositionRows = centreRows, Note = note.ToString() };
        }
    }

    /// <summary>Visual tokens entering each layer, and the layer average under the reference's log
    /// convention (each layer counted after its own pruning, merged tokens included).</summary>
    static string LayerSummary(List<(int Layer, int Count)> after, int nv0, int layers)
    {
        var entering = new int[layers];
        var counted = new int[layers];
        int current = nv0, next = 0;
        for (int l = 0; l < layers; l++)
        {
            entering[l] = current;
            if (next < after.Count && after[next].Layer == l) current = after[next++].Count;
            counted[l] = current;
        }
        var runs = new List<string>();
        for (int l = 0; l < layers;)
        {
            int m = l;
            while (m < layers && entering[m] == entering[l]) m++;
            runs.Add($"{entering[l]}x{m - l}");
            l = m;
        }
        double average = counted.Average();
        return $"visual tokens entering layers 0..{layers - 1}: {string.Join(", ", runs)}; layer-averaged (reference convention) {average.ToString("0.0", CultureInfo.InvariantCulture)}";
    }
}
