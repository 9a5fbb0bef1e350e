using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>`random:K[:seed=S]` (METHODS §3, canonical): the first K entries of a seeded
/// Fisher–Yates shuffle of 0..N−1 (<see cref="SplitMix64"/>), sorted ascending so raster order is
/// kept. Selecting before the per-token projector gives the same embeddings as selecting after it,
/// so the features are selected here and only the kept ones need projecting.</summary>
public sealed class RandomSelectionReducer : IVisualReducer
{
    public int Budget { get; }

    /// <summary>The spec's seed; null takes <see cref="ReductionInput.Seed"/>.</summary>
    public ulong? Seed { get; }

    public int? FixedBudget => Budget;

    public IVisualReducer? WithBudget(int keep) => new RandomSelectionReducer(keep, Seed);

    public string Name => Seed is { } s ? $"random:{Budget}:seed={s}" : $"random:{Budget}";

    public VisionNeeds Needs => VisionNeeds.None;

    public RandomSelectionReducer(int budget, ulong? seed = null)
    {
        if (budget < 1) throw new MethodSpecException($"random:{budget}", "budget must be at least 1");
        Budget = budget;
        Seed = seed;
    }

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount;
        NoReduction.CheckBudget(Name, Budget, n);
        var kept = Sample(n, Budget, Seed ?? input.Seed);
        return NoReduction.Select(input, input.Features, input.Channels, kept, projected: false);
    }

    /// <summary>k distinct indices of 0..n−1, ascending: partial Fisher–Yates where step i swaps
    /// position i with i + NextBelow(n − i).</summary>
    public static int[] Sample(int n, int k, ulong seed)
    {
        var perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        var rng = new SplitMix64(seed);
        for (int i = 0; i < k; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(n - i));
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        var kept = perm.AsSpan(0, k).ToArray();
        Array.Sort(kept);
        return kept;
    }
}
