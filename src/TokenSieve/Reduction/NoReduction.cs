using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>`none`: all N patches in raster order (plain LLaVA-1.5).</summary>
public sealed class NoReduction : IVisualReducer
{
    public string Name => "none";

    public VisionNeeds Needs => VisionNeeds.None;

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount;
        var kept = new int[n];
        var prov = new TokenProvenance[n];
        for (int i = 0; i < n; i++) { kept[i] = i; prov[i] = TokenProvenance.Single(i); }
        return new ReductionResult
        {
            Tokens = (float[])input.Features.Clone(),
            TokenCount = n,
            Width = input.Channels,
            KeptIndices = kept,
            Provenance = prov,
            GridHeight = input.GridHeight,
            GridWidth = input.GridWidth,
        };
    }

    /// <summary>Rows <paramref name="kept"/> of [*, width] <paramref name="source"/>, each a single-patch token.</summary>
    internal static ReductionResult Select(ReductionInput input, float[] source, int width, int[] kept, bool projected, float[]? scores = null)
    {
        return new ReductionResult
        {
            Tokens = RowKernels.GatherRows(source, width, kept),
            TokenCount = kept.Length,
            Width = width,
            AlreadyProjected = projected,
            KeptIndices = kept,
            Provenance = kept.Select(TokenProvenance.Single).ToArray(),
            Scores = scores,
            GridHeight = input.GridHeight,
            GridWidth = input.GridWidth,
        };
    }

    /// <summary>Throws the spec error for a budget outside [1, N].</summary>
    internal static void CheckBudget(string spec, int budget, int n, string what = "budget")
    {
        if (budget < 1 || budget > n)
            throw new MethodSpecException(spec, $"{what} {budget} is outside 1..{n} (the image has {n} patches)");
    }
}
