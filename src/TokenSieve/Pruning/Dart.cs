using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>How DART picks its pivots (METHODS.md §8).</summary>
public enum DartPivotRule
{
    /// <summary>Largest L1 norm of layer K−1's post-RoPE, head-concatenated keys (the reference).</summary>
    MaxKeyNorm,
    /// <summary>Smallest L1 key norm (ablation).</summary>
    MinKeyNorm,
    /// <summary>Uniformly random image and text positions from a seeded generator (ablation).</summary>
    Random,
}

/// <summary>Order in which DART's pivots claim their tokens.</summary>
public enum DartPivotOrder
{
    /// <summary>CPython's iteration order of <c>set(V + T)</c> (the reference).</summary>
    CPythonSet,
    /// <summary>Image pivots then text pivots, each in topk order.</summary>
    TopK,
    /// <summary>Ascending position.</summary>
    Ascending,
}

/// <summary>DART, duplication-aware reduction (METHODS.md §8). At the input of layer K the pivots
/// (P_v image + P_t text tokens with the largest L1 key norm in layer K−1) each claim the τ visual
/// tokens least similar to them (cosine of the final-RMSNorm'd layer K−1 outputs), greedily and
/// exclusively in the reference's set order. Retained: the image pivots plus (P_v+P_t)·τ tokens
/// (the reference's "+P_v" quirk: T_max = 128 keeps 132). Original position ids are kept.</summary>
public sealed class Dart : IDecoderPruner
{
    public int Layer { get; }
    /// <summary>T_max (max_num_trunction), or null to derive τ from <see cref="ReductionRatio"/>.</summary>
    public int? MaxTokens { get; }
    public double ReductionRatio { get; }
    public int ImagePivots { get; }
    public int TextPivots { get; }
    public DartPivotRule PivotRule { get; }
    public DartPivotOrder PivotOrder { get; }
    /// <summary>Keep exactly T_max visual tokens (pivots included) instead of the reference's P_v + (P_v+P_t)·⌊T_max/(P_v+P_t)⌋.</summary>
    public bool ExactCount { get; }
    public int Seed { get; }

    public string Spec { get; }
    public PositionPolicy Positions => PositionPolicy.KeepOriginal;
    public IReadOnlyList<int> Boundaries { get; }

    public Dart(int layer = 2, int? maxTokens = 128, double reductionRatio = 0.778, int imagePivots = 4, int textPivots = 4,
        DartPivotRule pivotRule = DartPivotRule.MaxKeyNorm, DartPivotOrder pivotOrder = DartPivotOrder.CPythonSet, bool exactCount = false, int seed = 0, string? spec = null)
    {
        Spec = spec ?? $"dart:k={layer},keep={maxTokens}";
        if (layer < 1) throw new MethodSpecException(Spec, $"k = {layer} must be >= 1 (DART reads layer K-1)");
        if (maxTokens is < 1) throw new MethodSpecException(Spec, $"keep = {maxTokens} must be at least 1");
        if (reductionRatio is < 0 or >= 1) throw new MethodSpecException(Spec, $"ratio = {reductionRatio} must be in [0, 1)");
        if (imagePivots < 1 || textPivots < 0) throw new MethodSpecException(Spec, "needs at least one image pivot and a non-negative number of text pivots");
        if (exactCount && maxTokens is { } t && t < imagePivots) throw new MethodSpecException(Spec, $"count=exact with keep = {t} is fewer than the {imagePivots} image pivots");
        Layer = layer;
        MaxTokens = maxTokens;
        ReductionRatio = reductionRatio;
        ImagePivots = imagePivots;
        TextPivots = textPivots;
        PivotRule = pivotRule;
        PivotOrder = pivotOrder;
        ExactCount = exactCount;
        Seed = seed;
        Boundaries = [layer];
    }

    /// <summary>Visual tokens each pivot claims, in pivot-iteration order (all τ in faithful mode).</summary>
    public static int[] Quotas(int pivots, int imagePivots, int? maxTokens, double ratio, int visual, bool exact)
    {
        int budget = maxTokens ?? (int)(visual * (1 - ratio));
        if (!exact) return Enumerable.Repeat(budget / pivots, pivots).ToArray();
        int claim = budget - imagePivots, each = claim / pivots, extra = claim % pivots;
        return Enumerable.Range(0, pivots).Select(i => each + (i < extra ? 1 : 0)).ToArray();
    }

    public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
    {
        if (sequence.Images.Count > 1) throw new MethodSpecException(Spec, $"DART's pivots claim one image's tokens; the prompt has {sequence.Images.Count} images");
        if (Layer >= decoder.Layers) throw new MethodSpecException(Spec, $"k = {Layer} but the decoder has {decoder.Layers} layers (K must be 1..{decoder.Layers - 1})");
        int nv = sequence.ImageTokens, nt = sequence.Length - sequence.ImageStart - nv;
        if (ImagePivots > nv) throw new MethodSpecException(Spec, $"{ImagePivots} image pivots but only {nv} visual tokens");
        if (TextPivots > nt) throw new MethodSpecException(Spec, $"{TextPivots} text pivots but only {nt} tokens after the image");
        int pivots = ImagePivots + TextPivots;
        var quota = Quotas(pivots, ImagePivots, MaxTokens, ReductionRatio, nv, ExactCount);
        if (quota.Any(q => q < 0)) throw new MethodSpecException(Spec, $"count=exact keeps {ImagePivots + quota.Sum()} visual tokens, fewer than the {ImagePivots} image pivots");
        int kept = ImagePivots + quota.Sum();
        if (kept > nv) throw new MethodSpecException(Spec, $"keeps {ImagePivots} pivots + {quota.Sum()} claimed = {kept} visual tokens, more than the {nv} in the sequence");
        return new Run(this, quota);
    }

    sealed class Run(Dart method, int[] quota) : IPrunerRun
    {
        public DecoderTapRequest Request(int boundary, PruneLayout layout) => new() { Keys = true };

        public PruneDecision Prune(PruneState state) => method.Prune(state, quota);
    }

    PruneDecision Prune(PruneState state, int[] quota)
    {
        int s = state.ImageStart, nv = state.ImageCount, textStart = state.TextStart, n = state.Length;
        int d = state.Decoder.HiddenSize, kv = state.Decoder.KvDim;
        var (imagePivots, textPivots) = SelectPivots(state.Keys!, kv, s, nv, textStart, n);
        int[] order = PivotOrder switch
        {
            DartPivotOrder.CPythonSet => CPythonSetOrder.Of(imagePivots.Concat(textPivots)),
            DartPivotOrder.TopK => imagePivots.Concat(textPivots).ToArray(),
            _ => imagePivots.Concat(textPivots).Order().ToArray(),
        };

        // Similarity space: the model's final RMSNorm (with its weight) of the layer K−1 output.
        var normed = new float[n * d];
        state.View.FinalNorm(state.Hidden.AsSpan(0, n * d), n, normed);
        var pool = new List<int>(nv);
        var isPivot = new HashSet<int>(imagePivots);
        for (int i = s; i < textStart; i++) if (!isPivot.Contains(i)) pool.Add(i);
        var retained = new SortedSet<int>(imagePivots);
        var negCos = new float[nv];
        for (int p = 0; p < order.Length; p++)
        {
            var pivot = normed.AsSpan(order[p] * d, d);
            for (int u = 0; u < pool.Count; u++)
                negCos[u] = -Cosine(pivot, normed.AsSpan(pool[u] * d, d));
            // The τ least similar pool tokens (topk of −cos), claimed exclusively.
            var picked = Selection.TopK(negCos.AsSpan(0, pool.Count), quota[p]);
            Array.Sort(picked);
            for (int i = picked.Length - 1; i >= 0; i--)
            {
                retained.Add(pool[picked[i]]);
                pool.RemoveAt(picked[i]);
            }
        }
        return new PruneDecision
        {
            Keep = state.KeepWindow(s, nv, retained.Select(r => r - s).ToArray()),
            Note = $"dart: kept {retained.Count} of {nv} visual tokens ({imagePivots.Length} image pivots + {quota.Sum()} claimed by {order.Length} pivots in {PivotOrder} order: {string.Join(' ', order)})",
        };
    }

    (int[] Image, int[] Text) SelectPivots(float[] keys, int kv, int s, int nv, int textStart, int n)
    {
        if (PivotRule == DartPivotRule.Random)
        {
            var rng = new Random(Seed);
            var image = Enumerable.Range(s, nv).OrderBy(_ => rng.Next()).Take(ImagePivots).ToArray();
            var text = Enumerable.Range(textStart, n - textStart).OrderBy(_ => rng.Next()).Take(TextPivots).ToArray();
            return (image, text);
        }
        // L1 norm of the post-RoPE keys (RoPE keeps L2 per pair, not L1, so this is position-dependent).
        // The reference concatenates heads after repeat_kv; under GQA that repeats each kv head equally
        // often, scaling every norm by the group size, so ranking the kv heads directly is the same.
        float sign = PivotRule == DartPivotRule.MinKeyNorm ? -1f : 1f;
        var norms = new float[n];
        for (int i = 0; i < n; i++) norms[i] = sign * System.Numerics.Tensors.TensorPrimitives.SumOfMagnitudes(keys.AsSpan(i * kv, kv));
        var img = Selection.TopK(norms.AsSpan(s, nv), ImagePivots).Select(j => s + j).ToArray();
        var txt = Selection.TopK(norms.AsSpan(textStart, n - textStart), TextPivots).Select(j => textStart + j).ToArray();
        return (img, txt);
    }

    /// <summary>torch.nn.functional.cosine_similarity with ε = 1e-8 on each norm.</summary>
    static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return (float)(dot / (Math.Max(Math.Sqrt(na), 1e-8) * Math.Max(Math.Sqrt(nb), 1e-8)));
    }
}
