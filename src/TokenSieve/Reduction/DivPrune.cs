using System.Numerics.Tensors;
using TokenSieve.Numerics;

namespace TokenSieve.Reduction;

/// <summary>`divprune:M` (METHODS §7, vbdi/divprune @ 799e2d9): greedy max-min diversity on the
/// cosine distances of the projected tokens. Seed = the token whose second-smallest column
/// distance (nearest other token, the diagonal being ≈ 0) is largest; then repeatedly the token
/// whose minimum distance to the selected set is largest (first index on ties; selected tokens
/// are not excluded, as in the reference). Output ascending.</summary>
public sealed class DivPruneReducer : IVisualReducer
{
    /// <summary>M, the number of tokens kept (null when <see cref="Ratio"/> is given).</summary>
    public int? Budget { get; }

    /// <summary>The reference's SUBSET_RATIO ρ: M = round-half-even(ρ·N) at reduction time.</summary>
    public double? Ratio { get; }

    public int? FixedBudget => Budget;

    public IVisualReducer? WithBudget(int keep) => Budget is null ? null : new DivPruneReducer(keep);

    public string Name => Ratio is { } r ? "divprune:ratio=" + r.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : $"divprune:{Budget}";

    public VisionNeeds Needs => VisionNeeds.Projector;

    public DivPruneReducer(int budget)
    {
        if (budget < 1) throw new MethodSpecException($"divprune:{budget}", "budget must be at least 1");
        Budget = budget;
    }

    public DivPruneReducer(double ratio)
    {
        if (!(ratio > 0 && ratio <= 1)) throw new MethodSpecException($"divprune:ratio={ratio}", "ratio must be in (0, 1]");
        Ratio = ratio;
    }

    /// <summary>The reference's SUBSET_RATIO → M = round-half-even(ρ·N) (0.098 → 56 at N = 576).</summary>
    public static int BudgetForRatio(double ratio, int n) => (int)Math.Round(ratio * n, MidpointRounding.ToEven);

    public ReductionResult Reduce(ReductionInput input, ComputeContext ctx)
    {
        input.Validate(Needs, Name);
        int n = input.PatchCount;
        int budget = Budget ?? BudgetForRatio(Ratio!.Value, n);
        NoReduction.CheckBudget(Name, budget, n);
        var z = input.ProjectRows(input.Features, n, Name, out int d);
        var kept = Select(z, n, d, budget, ctx);
        return NoReduction.Select(input, z, d, kept, projected: true);
    }

    /// <summary>The selected rows of [n, d] <paramref name="z"/>, ascending (duplicates possible
    /// when remaining tokens duplicate selected ones, as in the reference).</summary>
    public static int[] Select(float[] z, int n, int d, int m, ComputeContext ctx)
    {
        var unit = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            var row = z.AsSpan(i * d, d);
            TensorPrimitives.Divide(row, TensorPrimitives.Norm(row), unit.AsSpan(i * d, d)); // no epsilon (reference)
        }
        var dist = new float[n * n];
        Gemm.MatMulTransposed(ctx, unit, n, d, unit, n, dist);
        TensorPrimitives.Subtract(1f, dist, dist);

        // seed: argmax over columns of the second-smallest entry in the column
        int seed = 0;
        float bestSecond = float.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            float min1 = float.PositiveInfinity, min2 = float.PositiveInfinity;
            for (int i = 0; i < n; i++)
            {
                float v = dist[i * n + j];
                if (v < min1) { min2 = min1; min1 = v; }
                else if (v < min2) min2 = v;
            }
            if (n == 1) min2 = min1;
            if (min2 > bestSecond) { bestSecond = min2; seed = j; }
        }

        var selected = new int[m];
        selected[0] = seed;
        var minDist = dist.AsSpan(seed * n, n).ToArray(); // running min over selected rows
        for (int t = 1; t < m; t++)
        {
            int s = TensorPrimitives.IndexOfMax(minDist); // first maximum
            selected[t] = s;
            TensorPrimitives.Min(minDist, dist.AsSpan(s * n, n), minDist);
        }
        Array.Sort(selected);
        return selected;
    }
}
