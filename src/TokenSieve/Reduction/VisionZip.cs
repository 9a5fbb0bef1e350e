using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>`visionzip:D+C` (METHODS §6, dvlab-research/VisionZip @ 3151f6d). D counts the [CLS]
/// token: the [CLS] hidden state plus the D−1 patches with the largest feature-layer [CLS]
/// attention summed over heads, in ascending order; then C contextual tokens: targets every
/// ⌊|R|/C⌋-th entry of the remaining list R, every other remaining patch assigned to its most
/// similar target (head-mean feature-layer keys, cosine, first maximum), and each contextual
/// token = target + mean of its assigned patches (the target is not in the mean).</summary>
public sealed class VisionZipReducer : IVisualReducer
{
    public int Dominant { get; }

    public int Contextual { get; }

    public int? FixedBudget => Dominant + Contextual;

    /// <summary>The dominant : contextual proportion kept (at least one of each).</summary>
    public IVisualReducer? WithBudget(int keep)
    {
        if (keep < 2) return null;
        int dominant = Math.Clamp((int)Math.Round((double)keep * Dominant / (Dominant + Contextual), MidpointRounding.ToEven), 1, keep - 1);
        return new VisionZipReducer(dominant, keep - dominant);
    }

    public string Name => $"visionzip:{Dominant}+{Contextual}";

    public VisionNeeds Needs => VisionNeeds.FeatureLayerClsAttention | VisionNeeds.FeatureLayerKeys | VisionNeeds.ClsHiddenState;

    public VisionZipReducer(int dominant, int contextual)
    {
        if (dominant < 1) throw new MethodSpecException($"visionzip:{dominant}+{contextual}", "the dominant count D includes the [CLS] token and must be at least 1");
        if (contextual < 1) throw new MethodSpecException($"visionzip:{dominant}+{contextual}", "the contextual count C must be at least 1 (the reference divides by it)");
        Dominant = dominant;
        Contextual = contextual;
    }

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount, c = input.Channels, heads = input.Heads, hd = c / heads;
        int dp = Dominant - 1;
        if (dp > n) throw new MethodSpecException(Name, $"{dp} dominant patches exceed the {n} patches");
        if (Contextual > n - dp) throw new MethodSpecException(Name, $"{Contextual} contextual tokens exceed the {n - dp} patches left after {dp} dominant ones (of {n}; the reference's shapes mismatch here)");

        // s_j = Σ_h P_h[0, j+1]; the sum ranks like FasterVLM's mean
        var score = new float[n];
        var attn = input.FeatureLayerClsAttention!;
        for (int h = 0; h < heads; h++) TensorPrimitives.Add(score, attn.AsSpan(h * (n + 1) + 1, n), score);
        var dominant = Selection.TopK(score, dp);
        Array.Sort(dominant);

        var isDominant = new bool[n];
        foreach (int p in dominant) isDominant[p] = true;
        var remaining = new int[n - dp];
        for (int p = 0, s = 0; p < n; p++) if (!isDominant[p]) remaining[s++] = p;

        int step = Math.Max(1, remaining.Length / Contextual);
        var targets = new int[Contextual];
        var isTarget = new bool[n];
        for (int i = 0; i < Contextual; i++) { targets[i] = remaining[i * step]; isTarget[targets[i]] = true; }
        var sources = remaining.Where(p => !isTarget[p]).ToArray();

        // M_i = k_proj output averaged over heads, normalised without epsilon (reference)
        var keys = input.FeatureLayerKeys!;
        var metric = new float[n * hd];
        for (int p = 0; p < n; p++)
        {
            var mrow = metric.AsSpan(p * hd, hd);
            for (int h = 0; h < heads; h++) TensorPrimitives.Add(mrow, keys.AsSpan((p + 1) * c + h * hd, hd), mrow);
            TensorPrimitives.Multiply(mrow, 1f / heads, mrow);
            TensorPrimitives.Divide(mrow, TensorPrimitives.Norm(mrow), mrow);
        }
        var targetMetric = RowKernels.GatherRows(metric, hd, targets);
        var sourceMetric = RowKernels.GatherRows(metric, hd, sources);
        var sim = new float[sources.Length * Contextual];
        Gemm.MatMulTransposed(ctx, sourceMetric, sources.Length, hd, targetMetric, Contextual, sim);
        var assigned = new List<int>[Contextual];
        for (int j = 0; j < Contextual; j++) assigned[j] = [];
        for (int u = 0; u < sources.Length; u++)
            assigned[TensorPrimitives.IndexOfMax(sim.AsSpan(u * Contextual, Contextual))].Add(sources[u]); // first maximum

        int outCount = Dominant + Contextual;
        var tokens = new float[outCount * c];
        var prov = new TokenProvenance[outCount];
        input.ClsHiddenState!.CopyTo(tokens, 0);
        prov[0] = TokenProvenance.ClassToken;
        for (int i = 0; i < dp; i++)
        {
            input.Features.AsSpan(dominant[i] * c, c).CopyTo(tokens.AsSpan((1 + i) * c, c));
            prov[1 + i] = TokenProvenance.Single(dominant[i]);
        }
        for (int j = 0; j < Contextual; j++)
        {
            var y = tokens.AsSpan((Dominant + j) * c, c);
            var members = assigned[j];
            foreach (int u in members) TensorPrimitives.Add(y, input.Features.AsSpan(u * c, c), y);
            float w = 1f / Math.Max(members.Count, 1);
            TensorPrimitives.Multiply(y, w, y);
            TensorPrimitives.Add(y, input.Features.AsSpan(targets[j] * c, c), y);
            var patches = new int[members.Count + 1];
            var weights = new float[members.Count + 1];
            patches[0] = targets[j];
            weights[0] = 1f;
            for (int s = 0; s < members.Count; s++) { patches[s + 1] = members[s]; weights[s + 1] = w; }
            prov[Dominant + j] = new TokenProvenance(patches, weights);
        }
        return new ReductionResult
        {
            Tokens = tokens,
            TokenCount = outCount,
            Width = c,
            KeptIndices = [.. dominant, .. targets],
            Provenance = prov,
            Scores = score,
            GridHeight = input.GridHeight,
            GridWidth = input.GridWidth,
        };
    }
}
