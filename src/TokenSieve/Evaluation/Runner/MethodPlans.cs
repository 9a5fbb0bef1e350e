using TokenSieve.Methods;

namespace TokenSieve.Evaluation;

/// <summary>The answerers' parsed methods: each spec parsed once and reused for every item (methods keep
/// no per-run state, so one plan serves all items).</summary>
sealed class MethodPlans
{
    readonly Dictionary<string, MethodPlan> _plans = new(StringComparer.Ordinal);

    /// <summary>Parses every spec up front so a typo fails before hours of work.</summary>
    public void Prepare(IEnumerable<string> specs)
    {
        foreach (var s in specs) Get(s);
    }

    public MethodPlan Get(string spec)
    {
        if (!_plans.TryGetValue(spec, out var m)) _plans[spec] = m = MethodPlan.Parse(spec);
        return m;
    }
}
