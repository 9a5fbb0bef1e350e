using System.Numerics.Tensors;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>The result of one ToMe merge over t tokens.</summary>
/// <param name="X">New tokens [Tokens, C].</param>
/// <param name="Sizes">New sizes σ (patches per token).</param>
/// <param name="Destination">For each old position, the new position it went to.</param>
/// <param name="Coefficient">For each old position, its weight in the new token (x_new = Σ coef·x_old).</param>
internal sealed record ToMeMerge(float[] X, int Tokens, float[] Sizes, int[] Destination, float[] Coefficient);

/// <summary>ToMe bipartite soft matching (METHODS §12, facebookresearch/ToMe @ af95e4b
/// `bipartite_soft_matching` + `merge_wavg`), the parse_r schedule and the proportional-attention
/// bias. Pure functions; the vision tower calls them between attention and MLP (see
/// <see cref="ToMeTracker"/>).</summary>
internal static class ToMe
{
    /// <summary>One merge: split the current sequence into even (𝔸) and odd (𝔹) positions, match
    /// each a ∈ 𝔸 to its most cosine-similar b (first on ties), take the r best-matched a as
    /// sources (value descending, lower index first on ties), merge them into their b by a
    /// size-weighted average and return [unmerged 𝔸 (ascending when <paramref name="protectCls"/>,
    /// else descending value), all 𝔹 in order]. r is capped at ⌊(t − protected)/2⌋.</summary>
    /// <param name="x">Tokens [t, c].</param>
    /// <param name="metric">Head-mean keys [t, metricDim].</param>
    /// <param name="sizes">σ per token; with <paramref name="sizeWeighted"/> false every size is
    /// taken as 1 and the result sizes are all 1 (llmc's LLaVA variant: plain means).</param>
    public static ToMeMerge Merge(ReadOnlySpan<float> x, int t, int c, ReadOnlySpan<float> metric, int metricDim,
        ReadOnlySpan<float> sizes, int r, bool protectCls, bool sizeWeighted, ComputeContext ctx)
    {
        if (x.Length != t * c) throw new InvalidInputException($"ToMe: tensor 'x' has {x.Length} values, expected [{t},{c}]");
        if (metric.Length != t * metricDim) throw new InvalidInputException($"ToMe: tensor 'metric' has {metric.Length} values, expected [{t},{metricDim}]");
        if (sizes.Length != t) throw new InvalidInputException($"ToMe: tensor 'sizes' has {sizes.Length} values, expected [{t}]");
        int protectedCount = protectCls ? 1 : 0;
        int rEff = Math.Min(r, (t - protectedCount) / 2);
        var sigma = new float[t];
        if (sizeWeighted) sizes.CopyTo(sigma); else sigma.AsSpan().Fill(1f);
        if (rEff <= 0)
        {
            var identity = new int[t];
            for (int i = 0; i < t; i++) identity[i] = i;
            var ones = new float[t];
            ones.AsSpan().Fill(1f);
            return new ToMeMerge(x.ToArray(), t, sigma, identity, ones);
        }

        int na = (t + 1) / 2, nb = t / 2;
        var ma = new float[na * metricDim];
        var mb = new float[nb * metricDim];
        for (int i = 0; i < t; i++)
        {
            var src = metric.Slice(i * metricDim, metricDim);
            var dst = (i % 2 == 0 ? ma.AsSpan(i / 2 * metricDim, metricDim) : mb.AsSpan(i / 2 * metricDim, metricDim));
            TensorPrimitives.Divide(src, TensorPrimitives.Norm(src), dst); // metric / ‖metric‖, no epsilon
        }
        var scores = new float[na * nb];
        Gemm.MatMulTransposed(ctx, ma, na, metricDim, mb, nb, scores);
        if (protectCls) scores.AsSpan(0, nb).Fill(float.NegativeInfinity);

        var nodeMax = new float[na];
        var nodeIdx = new int[na];
        for (int a = 0; a < na; a++)
        {
            var row = scores.AsSpan(a * nb, nb);
            nodeIdx[a] = protectCls && a == 0 ? 0 : TensorPrimitives.IndexOfMax(row);
            nodeMax[a] = row[nodeIdx[a]];
        }
        var edge = Selection.TopK(nodeMax, na); // argsort descending, ties by index
        var unmerged = edge.AsSpan(rEff).ToArray();
        if (protectCls) Array.Sort(unmerged);
        int nu = unmerged.Length, tNew = nu + nb;

        var destination = new int[t];
        var coefficient = new float[t];
        var newSizes = new float[tNew];
        for (int u = 0; u < nu; u++) { destination[2 * unmerged[u]] = u; newSizes[u] = sigma[2 * unmerged[u]]; }
        for (int b = 0; b < nb; b++) { destination[2 * b + 1] = nu + b; newSizes[nu + b] = sigma[2 * b + 1]; }
        for (int s = 0; s < rEff; s++)
        {
            int a = edge[s];
            destination[2 * a] = nu + nodeIdx[a];
            newSizes[nu + nodeIdx[a]] += sigma[2 * a];
        }

        // x_b ← (σ_b·x_b + Σ σ_a·x_a) / (σ_b + Σ σ_a)
        var y = new float[tNew * c];
        for (int i = 0; i < t; i++)
        {
            int d = destination[i];
            float w = sigma[i] / newSizes[d];
            coefficient[i] = w;
            if (d < nu) x.Slice(i * c, c).CopyTo(y.AsSpan(d * c, c));
        }
        for (int b = 0; b < nb; b++)
            TensorPrimitives.Multiply(x.Slice((2 * b + 1) * c, c), sigma[2 * b + 1], y.AsSpan((nu + b) * c, c));
        for (int s = 0; s < rEff; s++)
        {
            int a = edge[s], d = nu + nodeIdx[a];
            TensorPrimitives.MultiplyAdd(x.Slice(2 * a * c, c), sigma[2 * a], y.AsSpan(d * c, c), y.AsSpan(d * c, c));
        }
        for (int b = 0; b < nb; b++)
            TensorPrimitives.Divide(y.AsSpan((nu + b) * c, c), newSizes[nu + b], y.AsSpan((nu + b) * c, c));
        if (!sizeWeighted) newSizes.AsSpan().Fill(1f);
        return new ToMeMerge(y, tNew, newSizes, destination, coefficient);
    }

    /// <summary>ToMe's parse_r for a constant r or (r, inflection): r_l = int(m + l·(M − m)/(L − 1))
    /// with m = int(r(1 − inflection)), M = 2r − m; inflection 0 gives a constant r.</summary>
    public static int[] ParseR(int layers, int r, double inflection = 0)
    {
        if (layers < 1) throw new ArgumentOutOfRangeException(nameof(layers));
        var schedule = new int[layers];
        if (inflection == 0)
        {
            schedule.AsSpan().Fill(r);
            return schedule;
        }
        // as parse_r: min = int(r(1 − inflect)), step = (max − min)/(L − 1), r_l = int(min + step·l)
        int min = (int)(r * (1.0 - inflection));
        int max = 2 * r - min;
        double step = layers == 1 ? 0 : (double)(max - min) / (layers - 1);
        for (int l = 0; l < layers; l++) schedule[l] = (int)(min + step * l);
        return schedule;
    }

    /// <summary>ToMe's parse_r for a per-layer list: taken as is, padded with 0 to <paramref name="layers"/>.</summary>
    public static int[] ParseR(int layers, IReadOnlyList<int> perLayer)
    {
        var schedule = new int[layers];
        for (int l = 0; l < Math.Min(layers, perLayer.Count); l++) schedule[l] = perLayer[l];
        return schedule;
    }

    /// <summary>The budget schedule of METHODS §12: r_l = ⌊(N − B)/L⌋ + [l &lt; (N − B) mod L] over
    /// the L merging layers (the feature layer and those before it), so N − Σr = B patches remain
    /// (192 → 17 for l &lt; 16 else 16 at N = 576, L = 23).</summary>
    public static int[] BudgetSchedule(int patches, int budget, int mergeLayers)
    {
        int total = patches - budget;
        var schedule = new int[mergeLayers];
        for (int l = 0; l < mergeLayers; l++) schedule[l] = total / mergeLayers + (l < total % mergeLayers ? 1 : 0);
        return schedule;
    }

    /// <summary>prop_attn: the additive bias log σ_j on every key j's logit.</summary>
    public static void ProportionalAttentionBias(ReadOnlySpan<float> sizes, Span<float> bias)
    {
        if (bias.Length != sizes.Length) throw new ArgumentException("bias and sizes differ in length", nameof(bias));
        TensorPrimitives.Log(sizes, bias);
    }
}

/// <summary>Carries ToMe state through the tower: the token sizes and, for provenance, each
/// current token's sources (original sequence positions, CLS = 0, with weights). <see cref="ToMeHook"/>
/// calls <see cref="Merge"/> in each layer between attention and MLP and returns
/// <see cref="AttentionBias"/> as the key bias when proportional attention is on.</summary>
internal sealed class ToMeTracker
{
    Dictionary<int, float>[] _sources;

    public float[] Sizes { get; private set; }

    public int Tokens => Sizes.Length;

    public bool ProtectCls { get; }

    public bool SizeWeighted { get; }

    public ToMeTracker(int tokens, bool protectCls = true, bool sizeWeighted = true)
    {
        Sizes = new float[tokens];
        Sizes.AsSpan().Fill(1f);
        _sources = new Dictionary<int, float>[tokens];
        for (int i = 0; i < tokens; i++) _sources[i] = new() { [i] = 1f };
        ProtectCls = protectCls;
        SizeWeighted = sizeWeighted;
    }

    /// <summary>log σ per key, for proportional attention.</summary>
    public float[] AttentionBias()
    {
        var bias = new float[Tokens];
        ToMe.ProportionalAttentionBias(Sizes, bias);
        return bias;
    }

    /// <summary>Merges r tokens of x [Tokens, c] using the head-mean keys; returns the new x.</summary>
    public float[] Merge(ReadOnlySpan<float> x, int c, ReadOnlySpan<float> headMeanKeys, int keyDim, int r, ComputeContext ctx)
    {
        var m = ToMe.Merge(x, Tokens, c, headMeanKeys, keyDim, Sizes, r, ProtectCls, SizeWeighted, ctx);
        var next = new Dictionary<int, float>[m.Tokens];
        for (int i = 0; i < next.Length; i++) next[i] = new();
        for (int old = 0; old < _sources.Length; old++)
        {
            var dst = next[m.Destination[old]];
            foreach (var (p, w) in _sources[old])
                dst[p] = dst.GetValueOrDefault(p) + w * m.Coefficient[old];
        }
        _sources = next;
        Sizes = m.Sizes;
        return m.X;
    }

    /// <summary>The sources of every token except the first (the [CLS] token, which LLaVA's feature
    /// selection drops), as patch indices (sequence position − 1) in ascending order.</summary>
    public TokenProvenance[] PatchProvenance()
    {
        var prov = new TokenProvenance[Tokens - 1];
        for (int i = 1; i < Tokens; i++)
        {
            var entries = _sources[i].Where(e => e.Key > 0).OrderBy(e => e.Key).ToArray();
            prov[i - 1] = new TokenProvenance(entries.Select(e => e.Key - 1).ToArray(), entries.Select(e => e.Value).ToArray());
        }
        return prov;
    }
}

/// <summary>ToMe inside the tower (METHODS §12), one per image: in every layer up to the features,
/// proportional attention (log-size key bias) when asked, then r_l bipartite merges on the
/// head-mean keys between attention and MLP.</summary>
internal sealed class ToMeHook : IVisionHook, ITokenSourceTracker
{
    readonly int[] _schedule;
    readonly bool _proportional;

    public ToMeTracker Tracker { get; }

    public ToMeHook(ToMeTracker tracker, int[] schedule, bool proportionalAttention)
    {
        Tracker = tracker;
        _schedule = schedule;
        _proportional = proportionalAttention;
    }

    public float[]? KeyBias(int layer) => _proportional ? Tracker.AttentionBias() : null;

    public int Merge(in VisionMergeView view)
    {
        int r = view.Layer < _schedule.Length ? _schedule[view.Layer] : 0;
        if (r <= 0) return view.Tokens;
        // ToMe's metric: keys averaged over heads, [tokens, head dim].
        int tokens = view.Tokens, c = view.Channels, heads = view.Heads, hd = view.HeadDim;
        var metric = new float[tokens * hd];
        for (int t = 0; t < tokens; t++)
        {
            var m = metric.AsSpan(t * hd, hd);
            for (int h = 0; h < heads; h++) TensorPrimitives.Add(m, view.Keys.Slice(t * c + h * hd, hd), m);
            TensorPrimitives.Multiply(m, 1f / heads, m);
        }
        var merged = Tracker.Merge(view.Hidden, c, metric, hd, r, view.Compute);
        merged.AsSpan(0, Tracker.Tokens * c).CopyTo(view.Hidden);
        return Tracker.Tokens;
    }

    public TokenProvenance[] PatchProvenance() => Tracker.PatchProvenance();
}

/// <summary>`tome:r=R` / `tome:keep=B` (METHODS §12). Merging happens inside the vision tower
/// through <see cref="ToMeHook"/>; this reducer supplies the per-layer schedule and options, and
/// turns the tower's merged tokens and sources into a <see cref="ReductionResult"/>.</summary>
public sealed class ToMeReducer : IVisualReducer
{
    /// <summary>Constant r per layer (null when <see cref="Keep"/> is set).</summary>
    public int? R { get; }

    /// <summary>Target patch count B: r_l from <see cref="ToMe.BudgetSchedule"/>.</summary>
    public int? Keep { get; }

    /// <summary>parse_r's inflection (with <see cref="R"/>).</summary>
    public double Inflection { get; }

    /// <summary>Official ToMe: proportional attention and size-weighted merges; false = llmc's
    /// LLaVA variant (sizes reset to 1, plain means, no attention bias).</summary>
    public bool SizeWeighted { get; }

    public bool ProportionalAttention => SizeWeighted;

    public string Name { get; }

    public VisionNeeds Needs => VisionNeeds.TokenMerging;

    public int? FixedBudget => Keep;

    public IVisualReducer? WithBudget(int keep) => Keep is null ? null : new ToMeReducer(null, keep, Inflection, SizeWeighted);

    public ToMeReducer(int? r, int? keep = null, double inflection = 0, bool sizeWeighted = true)
    {
        if ((r is null) == (keep is null)) throw new MethodSpecException("tome", "give exactly one of r= (tokens merged per layer) or keep= (patches left)");
        if (r is < 1) throw new MethodSpecException($"tome:r={r}", "r must be at least 1");
        if (keep is < 1) throw new MethodSpecException($"tome:keep={keep}", "keep must be at least 1");
        if (inflection is < -1 or > 1 || double.IsNaN(inflection)) throw new MethodSpecException("tome", $"inflection must be in [-1, 1], got {inflection}");
        R = r;
        Keep = keep;
        Inflection = inflection;
        SizeWeighted = sizeWeighted;
        var parts = new List<string> { r is { } rv ? $"r={rv}" : $"keep={keep}" };
        if (inflection != 0) parts.Add("inflection=" + inflection.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        if (!sizeWeighted) parts.Add("variant=llmc");
        Name = "tome:" + string.Join(",", parts);
    }

    /// <summary>r for each of the <paramref name="mergeLayers"/> layers up to and including the
    /// feature layer (23 for LLaVA-1.5), over <paramref name="patches"/> patches.</summary>
    public int[] Schedule(int mergeLayers, int patches)
    {
        if (Keep is { } keep)
        {
            NoReduction.CheckBudget(Name, keep, patches, "keep");
            return ToMe.BudgetSchedule(patches, keep, mergeLayers);
        }
        return ToMe.ParseR(mergeLayers, R!.Value, Inflection);
    }

    /// <summary>A fresh per-image hook: merges up to the feature layer, protecting [CLS] when the tower has one.</summary>
    public IVisionHook CreateTowerHook(VisionTowerInfo tower) =>
        new ToMeHook(new ToMeTracker(tower.SequenceLength, protectCls: tower.HasClassToken, sizeWeighted: SizeWeighted),
            Schedule(tower.FeatureIndex, tower.Patches), ProportionalAttention);

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        var sources = input.MergedTokenSources!;
        foreach (var s in sources)
            foreach (int p in s.Patches)
                if ((uint)p >= (uint)input.PatchCount) throw new InvalidInputException($"{Name}: 'MergedTokenSources' names patch {p}, outside 0..{input.PatchCount - 1}");
        return new ReductionResult
        {
            Tokens = (float[])input.Features.Clone(),
            TokenCount = sources.Length,
            Width = input.Channels,
            KeptIndices = [],
            Provenance = sources,
            GridHeight = input.GridHeight,
            GridWidth = input.GridWidth,
        };
    }
}
