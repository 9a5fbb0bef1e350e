using TokenSieve.Pruning;
using TokenSieve.Reduction;

namespace TokenSieve.Methods;

/// <summary>A vision-side method and a decoder pruner used together. Written as one spec:
/// <c>VISION</c>, <c>PRUNER</c>, or <c>VISION|PRUNER</c> (e.g. <c>prumerge+|fastv:k=2,keep=64</c>).</summary>
public sealed record MethodPlan(IVisualReducer? Reducer, IDecoderPruner? Pruner)
{
    public static MethodPlan None { get; } = new(null, null);

    public static MethodPlan Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new MethodSpecException(spec ?? "", "empty method spec");
        var parts = spec.Split('|', StringSplitOptions.TrimEntries);
        if (parts.Length > 2) throw new MethodSpecException(spec, "at most one vision-side method and one decoder pruner, joined by '|'");
        IVisualReducer? reducer = null;
        IDecoderPruner? pruner = null;
        foreach (var part in parts)
        {
            if (MethodCatalog.ForSpec(part) is { Stage: MethodStage.Decoder })
            {
                if (pruner is not null) throw new MethodSpecException(spec, "two decoder pruners");
                pruner = MethodCatalog.ParseDecoder(part);
            }
            else
            {
                if (reducer is not null) throw new MethodSpecException(spec, "two vision-side methods");
                var r = MethodCatalog.ParseVision(part);
                reducer = r is NoReduction ? null : r;
            }
        }
        return new MethodPlan(reducer, pruner);
    }

    /// <summary>From the separate --reduce and --prune options of `run` and `dump`.</summary>
    public static MethodPlan FromOptions(string? reduce, string? prune)
    {
        var r = string.IsNullOrWhiteSpace(reduce) ? null : MethodCatalog.ParseVision(reduce);
        return new MethodPlan(r is NoReduction ? null : r, string.IsNullOrWhiteSpace(prune) ? null : MethodCatalog.ParseDecoder(prune));
    }

    /// <summary>The canonical spec of the plan.</summary>
    public string Spec => (Reducer, Pruner) switch
    {
        (null, null) => "none",
        ({ } r, null) => r.Name,
        (null, { } p) => p.Spec,
        ({ } r, { } p) => $"{r.Name}|{p.Spec}",
    };
}
