using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>`fastervlm:T` (METHODS §5, Theia-4869/FasterVLM @ f5d5f12): keep the T patches with
/// the largest feature-layer [CLS] attention averaged over heads, in ascending raster order (the
/// reference masks, it does not gather in rank order). Projecting only the kept features equals
/// the reference's project-all-then-mask.</summary>
public sealed class FasterVlmReducer : IVisualReducer
{
    public int Budget { get; }

    public int? FixedBudget => Budget;

    public IVisualReducer? WithBudget(int keep) => new FasterVlmReducer(keep);

    public string Name => $"fastervlm:{Budget}";

    public VisionNeeds Needs => VisionNeeds.FeatureLayerClsAttention;

    public FasterVlmReducer(int budget)
    {
        if (budget < 1) throw new MethodSpecException($"fastervlm:{budget}", "budget must be at least 1");
        Budget = budget;
    }

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount;
        NoReduction.CheckBudget(Name, Budget, n);
        var score = HeadMeanClsAttention(input.FeatureLayerClsAttention!, input.Heads, n);
        var kept = Selection.TopK(score, Budget);
        Array.Sort(kept); // boolean-mask selection keeps raster order
        return NoReduction.Select(input, input.Features, input.Channels, kept, projected: false, score);
    }

    /// <summary>a_j = (1/H)·Σ_h P_h[0, j+1], j = 0..N−1.</summary>
    public static float[] HeadMeanClsAttention(float[] clsAttention, int heads, int n)
    {
        var a = new float[n];
        for (int h = 0; h < heads; h++) TensorPrimitives.Add(a, clsAttention.AsSpan(h * (n + 1) + 1, n), a);
        TensorPrimitives.Multiply(a, 1f / heads, a);
        return a;
    }
}
