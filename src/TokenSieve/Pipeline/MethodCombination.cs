using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Pipeline;

/// <summary>A vision-side reduction and a decoder pruner used together. Written as one spec:
/// <c>VISION</c>, <c>PRUNER</c>, or <c>VISION|PRUNER</c> (e.g. <c>prumerge+|fastv:k=2,keep=64</c>).</summary>
public sealed record MethodCombination(IVisualReducer? Reducer, IDecoderPruner? Pruner)
{
    public static MethodCombination Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ReductionSpecException(spec ?? "", "empty method spec");
        var parts = spec.Split('|', StringSplitOptions.TrimEntries);
        if (parts.Length > 2) throw new ReductionSpecException(spec, "at most one vision-side method and one decoder pruner, joined by '|'");
        IVisualReducer? reducer = null;
        IDecoderPruner? pruner = null;
        foreach (var part in parts)
        {
            if (PruningSpec.Handles(part))
            {
                if (pruner is not null) throw new ReductionSpecException(spec, "two decoder pruners");
                pruner = PruningSpec.Parse(part);
            }
            else
            {
                if (reducer is not null) throw new ReductionSpecException(spec, "two vision-side methods");
                var r = ReductionSpec.Parse(part);
                reducer = r is NoReduction ? null : r;
            }
        }
        return new MethodCombination(reducer, pruner);
    }
}
