namespace TokenSieve.Pruning;

/// <summary>Parses decoder-pruning specs (<c>fastv:k=2,keep=64</c>, <c>pdrop:layers=8/16/24,lambda=0.5</c>,
/// <c>sparsevlm:192</c>, <c>dart:k=2,keep=128</c>) into pruners. Items after the colon are comma
/// separated; lists use '/'. Unknown methods or options, non-numbers and out-of-range values are
/// <see cref="ReductionSpecException"/>s; budgets are checked against the real visual-token count
/// when a prefill begins.</summary>
public static class PruningSpec
{
    public static readonly IReadOnlyList<string> Methods = ["fastv", "pdrop", "sparsevlm", "dart"];

    /// <summary>Whether the spec names a decoder pruner (so a combined parser can route it here).</summary>
    public static bool Handles(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string method = spec.Split(':', 2)[0].Trim().ToLowerInvariant();
        return Methods.Contains(method);
    }

    public static IDecoderPruner Parse(string spec)
    {
        var o = SpecOptions.Parse(spec);
        return o.Method switch
        {
            "fastv" => FastV.FromSpec(o),
            "pdrop" => PyramidDrop.FromSpec(o),
            "sparsevlm" => SparseVlm.FromSpec(o),
            "dart" => Dart.FromSpec(o),
            _ => throw new ReductionSpecException(spec, $"unknown decoder pruning method '{o.Method}' (known: {string.Join(", ", Methods)})"),
        };
    }

    public const string HelpText = """
        Decoder pruners (inside the LLM; combine with at most one vision-side reduction):
          fastv[:k=K,keep=M|ratio=R,start=S]
              FastV in-place (METHODS.md §9). Layers 0..K-1 see all tokens; the last token's head-mean
              attention in layer K-1 ranks the visual tokens; the top M stay with original position ids.
              k      first pruned layer, >= 1 (default 2)
              keep   visual tokens kept (ATTENTION_RANK); or
              ratio  drop ratio R, keep = round(n_v*(1-R)) (default 0.5)
              start  absolute start of the ranked window (official scripts' SYS_LENGTH=36 quirk: start=36)
              variant=inplace only; the mask variant needs an attention key mask (not supported)
          pdrop[:layers=L1/L2/..,lambda=X|ratios=r1/r2/..]
              PyramidDrop (§11). After 1-based layer L_i the last token's attention, recomputed with the
              next layer's norm/q/k, keeps int(n_v*r_i) visual tokens; positions renumbered.
              layers  stage boundaries (default 8/16/24)
              lambda  r_i = lambda^i (default 0.5); or ratios r1/r2/.. explicitly
          sparsevlm[:BUDGET][,layers=l1/l2/..,budgets=b1/b2/..,recycle=true|false]
              SparseVLM v1.5 (§10). BUDGET in 192/128/96/64 is the reference's layer-averaged count and
              selects the per-stage keep table (192: 300/200/110, 128: 303/110/36, 96: 238/48/26,
              64: 66/30/17). The output of 0-based layers l_i (default 2/6/15) is pruned by the
              rater-text attention; the top 30% of pruned tokens are merged by DPC-kNN (recycle).
              Positions renumbered; notes show the real visual count per layer.
          dart[:k=K,keep=T|ratio=R,pv=4,pt=4,pivot=knorm|knorm-min|random,seed=N,order=set|topk|ascending,count=faithful|exact]
              DART (§8). Pivots with the largest L1 post-RoPE key norm in layer K-1 each claim the
              keep/(pv+pt) least-similar visual tokens (final-RMSNorm cosine), greedily in CPython
              set order (order=set, faithful). Faithful count keeps pv more than keep (128 -> 132);
              count=exact keeps exactly keep. Original position ids. Defaults k=2, keep=128.
        """;
}
