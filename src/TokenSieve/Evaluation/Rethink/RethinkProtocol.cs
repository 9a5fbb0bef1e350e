using System.Globalization;
using TokenSieve.Methods;

namespace TokenSieve.Evaluation;

/// <summary>What `tokensieve rethink` runs: the rethinking paper's protocol (Wen et al., METHODS.md §15)
/// on one model and dataset.</summary>
public sealed record RethinkOptions
{
    /// <summary>Visual-token budgets every budgeted method runs at.</summary>
    public IReadOnlyList<int> Budgets { get; init; } = [];

    /// <summary>The α sweep (METHODS.md §15.3; the paper's values).</summary>
    public IReadOnlyList<double> Alphas { get; init; } = [0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0];

    /// <summary>Timed runs per configuration and attention mode in the speed part.</summary>
    public int SpeedRuns { get; init; } = 5;

    /// <summary>Also ask questions as second turns (when the data has several questions per image).</summary>
    public bool MultiTurn { get; init; } = true;
}

/// <summary>The configurations of the protocol for a model: none, random, pool, FastV, window FastV,
/// FastV_VIS, FasterVLM, DART, DivPrune, SparseVLM where its budget table and depth apply, PruMerge and
/// PruMerge+ (adaptive), and the α sweep at the budget closest to a quarter of the patches (the paper
/// sweeps at 144 of 576).</summary>
public sealed record RethinkPlan(IReadOnlyList<string> Specs, IReadOnlyList<string> AlphaSpecs, int AlphaBudget, int Layer,
    IReadOnlyDictionary<int, int> WindowSide, IReadOnlyList<string> SpeedSpecs)
{
    public static RethinkPlan For(int gridHeight, int gridWidth, int decoderLayers, RethinkOptions options)
    {
        int patches = gridHeight * gridWidth;
        var budgets = options.Budgets.Count > 0 ? options.Budgets : [Math.Max(1, patches / 4), Math.Max(1, patches / 9)];
        foreach (int b in budgets)
            if (b < 1 || b >= patches) throw new InvalidInputException($"budget {b} must be between 1 and {patches - 1} (the model has {patches} patches)");
        if (decoderLayers < 2) throw new InvalidInputException($"the decoder has {decoderLayers} layer(s); the decoder-side probes prune at layer 1 or 2");
        // FastV's K = 2 (the paper's), or 1 on a 2-layer decoder; the same K for every decoder probe.
        int k = decoderLayers >= 3 ? 2 : 1;
        var specs = new List<string> { "none" };
        var windows = new Dictionary<int, int>();
        foreach (int b in budgets)
        {
            int s = WindowFor(gridHeight, gridWidth, b);
            windows[b] = s;
            specs.AddRange([$"random:{b}", $"pool:{b}", $"fastv:k={k},keep={b}", $"fastv:k={k},keep={b},window={s}", $"fastv:k={k},keep={b},query=last-visual",
                $"fastervlm:{b}", $"divprune:{b}"]);
            if (b + 4 <= patches) specs.Add($"dart:k={k},keep={b}");
            if (Pruning.SparseVlm.BudgetTable.ContainsKey(b) && decoderLayers > Pruning.SparseVlm.DefaultLayers[^1] + 1) specs.Add($"sparsevlm:{b}");
        }
        specs.AddRange(["prumerge", "prumerge+"]);
        int alphaBudget = budgets.OrderBy(b => Math.Abs(b - patches / 4.0)).ThenByDescending(b => b).First();
        var alphaSpecs = options.Alphas.Select(a => $"alpha:a={a.ToString("R", CultureInfo.InvariantCulture)},k={k},keep={alphaBudget}").ToList();
        var speed = new List<string> { "none", $"random:{alphaBudget}", $"pool:{alphaBudget}", $"fastv:k={k},keep={alphaBudget}",
            $"fastv:k={k},keep={alphaBudget},window={windows[alphaBudget]}", $"fastv:k={k},keep={alphaBudget},query=last-visual", $"fastervlm:{alphaBudget}",
            $"alpha:a=0.5,k={k},keep={alphaBudget}" };
        foreach (var spec in specs.Concat(alphaSpecs).Concat(speed)) MethodPlan.Parse(spec); // fail before hours of work
        return new RethinkPlan(specs.Distinct().ToList(), alphaSpecs, alphaBudget, k, windows, speed);
    }

    /// <summary>The smallest window side dividing both grid sides whose window count fits the budget
    /// (at least one token per window), else the largest common divisor.</summary>
    public static int WindowFor(int h, int w, int budget)
    {
        int g = Gcd(h, w);
        for (int s = 1; s <= g; s++)
            if (h % s == 0 && w % s == 0 && (h / s) * (w / s) <= budget) return s;
        return g;
    }

    static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
