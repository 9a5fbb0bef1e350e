using System.Buffers;
using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>Which [CLS] attention ranks and weights the patches.</summary>
public enum PruMergeAttention
{
    /// <summary>Reference: one full-width head, softmax(q₀·Kᵀ/√C) from the last layer's q/k.</summary>
    Surrogate,

    /// <summary>Improvement: the last layer's own attention, split into the model's heads with
    /// scale 1/√(C/heads), softmax per head, averaged over heads (same q/k taps).</summary>
    PerHead,

    /// <summary>Improvement: the feature layer's own per-head [CLS] attention (the tap FasterVLM
    /// uses), averaged over heads; the neighbour search still uses the last layer's keys.</summary>
    FeatureLayer,
}

/// <summary>How neighbours are summed into a centre, and pruned tokens into the extra token.</summary>
public enum PruMergeWeights
{
    /// <summary>Reference: y = X_i + Σ a_u X_u and e = Σ a_j X_j, unnormalised.</summary>
    Raw,

    /// <summary>Improvement (the paper's weighted average): y = (a_i X_i + Σ a_u X_u)/(a_i + Σ a_u),
    /// e = Σ a_j X_j / Σ a_j.</summary>
    Normalised,
}

/// <summary>PruMerge+'s spatial supplement.</summary>
public enum PruMergeSpatial
{
    /// <summary>Reference: stride σ = ⌊⌊N/c⌋/3⌋ over the flattened raster index, values &lt; N−1.</summary>
    Raster,

    /// <summary>Improvement: a centred 2-D lattice with step g in both directions, g chosen so the
    /// lattice size is closest to the reference's ⌈(N−1)/σ⌉ samples.</summary>
    Grid,
}

/// <summary>What PruMerge+ does with zero IQR outliers, where the reference crashes (r = 0, so
/// step = int(1/r) divides by zero).</summary>
public enum PruMergeFailurePolicy
{
    /// <summary>Default: a documented fallback, reported in <see cref="ReductionResult.Note"/>:
    /// skip the spatial step and behave like PruMerge with k = 0 (only the extra token).</summary>
    Fallback,

    /// <summary>Faithful: throw <see cref="InvalidInputException"/> where the reference fails.</summary>
    Error,
}

/// <summary>PruMerge and PruMerge+ options; the defaults are the reference (42Shawn/LLaVA-PruMerge
/// @ 097c041, METHODS §1–2).</summary>
public sealed record PruMergeOptions
{
    /// <summary>PruMerge+ (spatial supplement) instead of PruMerge.</summary>
    public bool Plus { get; init; }

    /// <summary>Non-adaptive mode (reference if_adaptive=False): k = ⌊N·ratio⌋ ranked tokens.</summary>
    public double? Ratio { get; init; }

    /// <summary>Improvement: fixed budget of Keep output tokens (Keep − 1 ranked centres + the extra token).</summary>
    public int? Keep { get; init; }

    public PruMergeAttention Attention { get; init; } = PruMergeAttention.Surrogate;

    public PruMergeWeights Weights { get; init; } = PruMergeWeights.Raw;

    public PruMergeSpatial Spatial { get; init; } = PruMergeSpatial.Raster;

    public PruMergeFailurePolicy OnFailure { get; init; } = PruMergeFailurePolicy.Fallback;
}

/// <summary>PruMerge / PruMerge+ (METHODS §1, §2): rank patches by a [CLS] attention recomputed
/// from the last layer's q/k, keep the IQR outliers (PruMerge+: plus a strided spatial sample),
/// merge each kept patch with its 32 most key-similar other patches, and append one extra token
/// that sums all pruned patches.</summary>
public sealed class PruMergeReducer : IVisualReducer
{
    /// <summary>κ, the reference's hard-coded neighbour count.</summary>
    public const int NeighbourCount = 32;

    /// <summary>Columns per merge window (see <see cref="Merge"/>).</summary>
    const int MergeWindow = 128;

    [ThreadStatic] static float[]? t_mergeBlock;

    public PruMergeOptions Options { get; }

    public string Name { get; }

    public VisionNeeds Needs => Options.Attention == PruMergeAttention.FeatureLayer
        ? VisionNeeds.LastLayerQK | VisionNeeds.FeatureLayerClsAttention
        : VisionNeeds.LastLayerQK;

    public int? FixedBudget => Options.Keep;

    public IVisualReducer? WithBudget(int keep) => Options.Keep is null ? null : new PruMergeReducer(Options with { Keep = keep });

    public PruMergeReducer(PruMergeOptions? options = null)
    {
        Options = options ?? new PruMergeOptions();
        string method = Options.Plus ? "prumerge+" : "prumerge";
        if (Options.Plus && (Options.Ratio is not null || Options.Keep is not null))
            throw new MethodSpecException(method, "ratio= and keep= are PruMerge options; the reference's non-adaptive PruMerge+ (training only) emits duplicate centres and a corrupted complement, so it is not offered");
        if (Options.Ratio is not null && Options.Keep is not null)
            throw new MethodSpecException(method, "give ratio= or keep=, not both");
        if (Options.Ratio is { } r && !(r > 0 && r <= 1))
            throw new MethodSpecException(method, $"ratio must be in (0, 1], got {r}");
        if (Options.Keep is { } k && k < 1)
            throw new MethodSpecException(method, $"keep must be at least 1 (the extra token), got {k}");
        var parts = new List<string>();
        if (Options.Ratio is { } ratio) parts.Add("ratio=" + ratio.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        if (Options.Keep is { } keep) parts.Add("keep=" + keep);
        if (Options.Attention == PruMergeAttention.PerHead) parts.Add("attn=heads");
        if (Options.Attention == PruMergeAttention.FeatureLayer) parts.Add("attn=feature");
        if (Options.Weights != PruMergeWeights.Raw) parts.Add("weights=normalised");
        if (Options.Spatial != PruMergeSpatial.Raster) parts.Add("spatial=grid");
        if (Options.OnFailure != PruMergeFailurePolicy.Fallback) parts.Add("onfail=error");
        Name = parts.Count == 0 ? method : method + ":" + string.Join(",", parts);
    }

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        // Shapes only: every key enters the [CLS] logits and every feature enters some output token
        // (centre, neighbour or extra token, with a positive softmax weight), so a NaN/Inf there
        // shows in our results, and only then are the inputs scanned to name the culprit. This
        // keeps three full passes over 2.4 MB tensors out of a sub-millisecond method. Only the
        // [CLS] row of the queries is read, and only it is checked.
        input.Validate(Needs, Name, values: false);
        int n = input.PatchCount, c = input.Channels;
        ReductionInput.RequireFinite(input.LastLayerQueries.AsSpan(0, c), "LastLayerQueries", Name);
        if (Options.Attention == PruMergeAttention.PerHead && (input.Heads < 1 || c % input.Heads != 0))
            throw new InvalidInputException($"{Name}: attn=heads: Channels {c} is not divisible by Heads {input.Heads}");

        var inverseKeyNorms = new float[n];
        float[] attention;
        if (Options.Attention == PruMergeAttention.Surrogate)
        {
            attention = ClsAttentionAndKeyNorms(input.LastLayerQueries!, input.LastLayerKeys!, n, c, inverseKeyNorms);
        }
        else
        {
            attention = Options.Attention == PruMergeAttention.PerHead
                ? PerHeadClsAttention(input.LastLayerQueries!, input.LastLayerKeys!, n, c, input.Heads)
                : FasterVlmReducer.HeadMeanClsAttention(input.FeatureLayerClsAttention!, input.Heads, n);
            inverseKeyNorms = RowKernels.InverseRowNorms(input.LastLayerKeys.AsSpan(c), n, c, 1e-12f);
        }
        if (RowKernels.IndexOfNonFinite(attention) >= 0) throw input.RequireFiniteInputs(Needs, Name, "the [CLS] attention");

        int? adaptive = null;
        int k;
        if (Options.Ratio is { } ratio)
        {
            k = (int)(n * ratio); // Python int(N·ratio)
        }
        else if (Options.Keep is { } keep)
        {
            if (keep > n + 1) throw new MethodSpecException(Name, $"keep={keep} exceeds the {n} patches + 1 extra token");
            k = keep - 1;
        }
        else
        {
            k = OutlierCount(attention);
            adaptive = k;
        }

        int[] ranked = Selection.TopK(attention, k);
        int[] centres = ranked;
        string? note = null;
        if (Options.Plus)
            centres = WithSpatialSupplement(ranked, k, n, input.GridHeight, input.GridWidth, out note);

        var result = Merge(input, attention, inverseKeyNorms, centres, adaptive, note, ctx);
        if (RowKernels.IndexOfNonFinite(result.Tokens) >= 0) throw input.RequireFiniteInputs(Needs, Name, "the merged tokens");
        return result;
    }

    /// <summary>Reference step 1: A = softmax(Q·Kᵀ·C^−½) with one full-width head; returns row 0
    /// restricted to the patch columns, not renormalised after dropping the [CLS] column.
    /// Only row 0 is computed (577·C MAC instead of the reference's 577²·C).</summary>
    public static float[] SurrogateClsAttention(float[] q, float[] k, int n, int c) =>
        ClsAttentionAndKeyNorms(q, k, n, c, null);

    /// <summary>As above; also fills 1/max(‖K_j‖, 1e-12) for the patch keys in the same pass
    /// over K (each 4 KB key row is read once from memory for both dot products).</summary>
    static float[] ClsAttentionAndKeyNorms(float[] q, float[] k, int n, int c, float[]? inverseKeyNorms)
    {
        var logits = new float[n + 1];
        var q0 = q.AsSpan(0, c);
        for (int j = 0; j <= n; j++)
        {
            var kj = k.AsSpan(j * c, c);
            if (inverseKeyNorms is not null && j > 0)
            {
                var (dot, square) = RowKernels.DotAndSquare(q0, kj);
                logits[j] = dot;
                inverseKeyNorms[j - 1] = 1f / MathF.Max(MathF.Sqrt(square), 1e-12f);
            }
            else logits[j] = TensorPrimitives.Dot(q0, kj);
        }
        // torch: (q @ kᵀ) * C**-0.5, the Python float scale applied to float32 products.
        TensorPrimitives.Multiply(logits, (float)Math.Pow(c, -0.5), logits);
        RowKernels.SoftmaxInPlace(logits);
        return logits.AsSpan(1).ToArray();
    }

    /// <summary>Improvement: the model's own multi-head [CLS] row of the same layer, averaged over
    /// heads (each head softmax(q₀ₕ·Kₕᵀ/√(C/H))), patch columns, not renormalised.</summary>
    public static float[] PerHeadClsAttention(float[] q, float[] k, int n, int c, int heads)
    {
        int hd = c / heads;
        var mean = new float[n];
        var row = new float[n + 1];
        float scale = 1f / MathF.Sqrt(hd);
        for (int h = 0; h < heads; h++)
        {
            var q0 = q.AsSpan(h * hd, hd);
            for (int j = 0; j <= n; j++) row[j] = TensorPrimitives.Dot(q0, k.AsSpan(j * c + h * hd, hd)) * scale;
            RowKernels.SoftmaxInPlace(row);
            TensorPrimitives.Add(mean, row.AsSpan(1), mean);
        }
        TensorPrimitives.Multiply(mean, 1f / heads, mean);
        return mean;
    }

    /// <summary>Reference steps 2–3: c = #{a_j &gt; Q3 + 1.5·IQR} (strict, numpy linear
    /// percentiles); k = ⌊N·c/N⌋ = c.</summary>
    public static int OutlierCount(ReadOnlySpan<float> attention)
    {
        double fence = Percentiles.IqrUpperFence(attention).Fence;
        int count = 0;
        foreach (float a in attention) if (a > fence) count++;
        return count;
    }

    int[] WithSpatialSupplement(int[] ranked, int c, int n, int gh, int gw, out string? note)
    {
        note = null;
        bool faithful = Options.OnFailure == PruMergeFailurePolicy.Error;
        if (c == 0)
        {
            // reference: step = int(1/ratio) with ratio = 0 → ZeroDivisionError
            if (faithful) throw new InvalidInputException($"{Name}: zero IQR outliers; the reference divides by zero here (1/ratio with ratio 0)");
            note = "prumerge+: zero IQR outliers, where the reference crashes (1/0); fell back to PruMerge with k = 0 (only the extra token)";
            return ranked;
        }
        double r = (double)c / n;
        int q = (int)(1.0 / r);
        // σ ≥ 1 always: IQR outliers lie above Q3, so c ≤ N − 1 − ⌊0.75(N − 1)⌋ < N/3 (c ≤ 144 at
        // N = 576), and the reference's zero-step crash (c > N/3) cannot happen in adaptive mode.
        int stride = q / 3;
        var samples = new List<int>();
        if (Options.Spatial == PruMergeSpatial.Raster)
        {
            // reference: range(0, N-1, step) — patch N−1 can never be sampled
            for (int p = 0; p < n - 1; p += stride) samples.Add(p);
        }
        else
        {
            samples.AddRange(GridSamples(gh, gw, (n - 1 + stride - 1) / stride));
        }

        var inRanked = new bool[n];
        foreach (int i in ranked) inRanked[i] = true;
        var result = new List<int>(ranked);
        foreach (int p in samples) if (!inRanked[p]) result.Add(p);
        // The reference's other crash, no new sample (an empty float tensor in the gather), needs
        // S ⊆ I, impossible for the raster stride: |S| = ⌈(N−1)/σ⌉ ≥ 3c(N−1)/N > c.
        return result.ToArray();
    }

    /// <summary>A centred lattice with the same step g in both directions, g ≥ 1 chosen so that
    /// the lattice size is closest to <paramref name="target"/> (ties: the larger g). Raster order.</summary>
    public static int[] GridSamples(int gh, int gw, int target)
    {
        int bestG = 1;
        long bestDiff = long.MaxValue;
        for (int g = 1; g <= Math.Max(gh, gw); g++)
        {
            long count = (long)((gh + g - 1) / g) * ((gw + g - 1) / g);
            long diff = Math.Abs(count - target);
            if (diff <= bestDiff) (bestG, bestDiff) = (g, diff);
        }
        int rows = (gh + bestG - 1) / bestG, cols = (gw + bestG - 1) / bestG;
        int r0 = (gh - 1 - (rows - 1) * bestG) / 2, c0 = (gw - 1 - (cols - 1) * bestG) / 2;
        var s = new int[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                s[i * cols + j] = (r0 + i * bestG) * gw + c0 + j * bestG;
        return s;
    }

    /// <summary>Reference steps 5–9 for duplicate-free <paramref name="centres"/>: each centre is
    /// summed with its κ most key-cosine-similar other patches (layer-after-feature keys), weighted
    /// by attention; the extra token sums the complement. Output [centres in order, extra].</summary>
    ReductionResult Merge(ReductionInput input, float[] a, float[] invNorm, int[] centres, int? adaptive, string? note, ComputeContext ctx)
    {
        int n = input.PatchCount, c = input.Channels, m = centres.Length;
        bool normalised = Options.Weights == PruMergeWeights.Normalised;
        var x = input.Features;
        var keys = input.LastLayerKeys.AsSpan(c, n * c); // patch keys, CLS row dropped
        int kappa = Math.Min(NeighbourCount, n - 1); // reference needs N ≥ 33; smaller grids take all others

        // every element is written below (centre sums, then the extra token)
        var tokens = GC.AllocateUninitializedArray<float>((m + 1) * c);
        var provenance = new TokenProvenance[m + 1];
        if (m > 0)
        {
            // cos(K_i, K_u) ranks the same as K_i·K_u/‖K_u‖ within row i, so the centre's own
            // norm is never applied; F.normalize clamps ‖K_u‖ at 1e-12.
            // pooled scratch: these are large-object-heap sized at N = 576, C = 1024
            var centreKeys = ArrayPool<float>.Shared.Rent(m * c);
            var sim = ArrayPool<float>.Shared.Rent(m * n);
            for (int t = 0; t < m; t++) keys.Slice(centres[t] * c, c).CopyTo(centreKeys.AsSpan(t * c, c));
            Gemm.MatMulTransposed(ctx, centreKeys, m, c, keys, n, sim);
            ctx.For(m, t =>
            {
                int i = centres[t];
                var row = sim.AsSpan(t * n, n);
                TensorPrimitives.Multiply(row, invNorm, row);
                var patches = new int[kappa + 1];
                var weights = new float[kappa + 1];
                var neighbours = patches.AsSpan(1);
                Selection.RowTopK(row, i, neighbours); // candidates: every patch except i (kept ones included); ascending
                patches[0] = i;
                weights[0] = normalised ? a[i] : 1f;
                float total = weights[0];
                for (int s = 1; s <= kappa; s++)
                {
                    weights[s] = a[patches[s]];
                    total += weights[s];
                }
                if (normalised) TensorPrimitives.Multiply(weights, 1f / total, weights);
                provenance[t] = new TokenProvenance(patches, weights);
            });
            ArrayPool<float>.Shared.Return(centreKeys);
            ArrayPool<float>.Shared.Return(sim);
        }

        // extra token over the complement J (ascending)
        var kept = new bool[n];
        foreach (int i in centres) kept[i] = true;
        var complement = new int[n - m];
        int nj = 0;
        for (int j = 0; j < n; j++) if (!kept[j]) complement[nj++] = j;
        var extraWeights = new float[nj];
        double extraTotal = 0;
        for (int s = 0; s < nj; s++) { extraWeights[s] = a[complement[s]]; extraTotal += extraWeights[s]; }
        if (normalised && extraTotal > 0) TensorPrimitives.Multiply(extraWeights, (float)(1.0 / extraTotal), extraWeights);
        provenance[m] = new TokenProvenance(complement, extraWeights);

        // y_t = Σ weight·X over each token's provenance. Column windows outermost, each copied
        // into a contiguous [N, window] block first: gathering rows straight from X (stride C = 4 KB)
        // maps every row to the same few cache sets and thrashes L2, while the packed block
        // (N · 512 B) stays in L2 as all m + 1 outputs gather from it.
        int windows = (c + MergeWindow - 1) / MergeWindow;
        ctx.For(windows, w =>
        {
            int offset = w * MergeWindow, width = Math.Min(MergeWindow, c - offset);
            var block = (t_mergeBlock is { } b && b.Length >= n * width) ? b : (t_mergeBlock = new float[n * MergeWindow]);
            for (int j = 0; j < n; j++) x.AsSpan(j * c + offset, width).CopyTo(block.AsSpan(j * width, width));
            for (int t = 0; t <= m; t++)
                RowKernels.WeightedRowSum(block, width, 0, width, provenance[t].Patches, provenance[t].Weights, tokens.AsSpan(t * c + offset, width));
        });

        return new ReductionResult
        {
            Tokens = tokens,
            TokenCount = m + 1,
            Width = c,
            KeptIndices = centres,
            Provenance = provenance,
            AdaptiveCount = adaptive,
            Scores = a,
            Note = note,
            GridHeight = input.GridHeight,
            GridWidth = input.GridWidth,
        };
    }
}
