using TokenSieve.Pruning;

namespace TokenSieve.Methods;

/// <summary>Catalog rows of the decoder-side methods (inside the LLM; combine with at most one
/// vision-side method as <c>VISION|DECODER</c>).</summary>
static class DecoderMethods
{
    public static IEnumerable<MethodEntry> All()
    {
        yield return new MethodEntry
        {
            Name = "fastv", Main = true, Stage = MethodStage.Decoder, Budget = BudgetKind.Budgeted, Needs = "decoder attention rows (one per head)",
            Summary = "FastV in-place: the last token's head-mean attention in layer K-1 keeps the top M visual tokens",
            Usage = """
                fastv[:k=K,keep=M|ratio=R,start=S,window=S,query=last|last-visual]
                    FastV in-place (METHODS.md §9). Layers 0..K-1 see all tokens; the last token's head-mean
                    attention in layer K-1 ranks the visual tokens; the top M stay with original position ids.
                    k      first pruned layer, >= 1 (default 2)
                    keep   visual tokens kept (ATTENTION_RANK); or
                    ratio  drop ratio R, keep = round(n_v*(1-R)) (default 0.5)
                    start  absolute start of the ranked window (official scripts' SYS_LENGTH=36 quirk: start=36)
                    window probe §15.1: each SxS window of the patch grid keeps its floor(M/windows) best,
                           the rest go to the best anywhere (window FastV)
                    query  probe §15.2: last-visual ranks by the last image token's row, no language (FastV_VIS)
                    scope  several images: image (default) keeps M per image, total keeps M of them all
                    variant=inplace only; the mask variant needs an attention key mask (not supported)
                """,
            Reference = "METHODS.md §9; pkunlp-icler/FastV @ d165972",
            AtBudget = b => $"fastv:k=2,keep={b}",
            Create = FastV,
        };
        yield return new MethodEntry
        {
            Name = "alpha", Stage = MethodStage.Decoder, Budget = BudgetKind.Budgeted, Needs = "decoder attention rows (last position); hidden states entering layer K",
            Summary = "the rethinking paper's probe: A*importance (FastV's attention) + (1-A)*uniqueness (negative cosine), min-max normalised",
            Usage = """
                alpha:a=A,k=K,keep=M[,unique=last|mean]
                    Importance vs uniqueness (METHODS.md §15.3). s = A*minmax(imp) + (1-A)*minmax(uniq) over the
                    image tokens at layer K; imp = the last position's head-mean attention in layer K-1,
                    uniq = -cos(h_j, h_last) (unique=last, default) or -mean_i cos(h_j, h_i) (unique=mean).
                    The top M stay with original position ids. a=1 is FastV's selection.
                    scope=image (default) keeps M per image, scope=total M of all images
                    Sweep A with bench --methods "alpha:a={a},k=2,keep={budget}" --alphas 0,0.1,...,1
                """,
            Reference = "METHODS.md §15.3; Wen et al., ACL Findings 2025",
            AtBudget = b => $"alpha:a=0.5,k=2,keep={b}",
            Create = Alpha,
        };
        yield return new MethodEntry
        {
            Name = "pdrop", Stage = MethodStage.Decoder, Budget = BudgetKind.Preset, Needs = "the next decoder layer's norm, W_q, W_k",
            Summary = "PyramidDrop: stage-wise drops ranked by the last token's attention recomputed with the next layer's projections",
            Usage = """
                pdrop[:layers=L1/L2/..,lambda=X|ratios=r1/r2/..]
                    PyramidDrop (§11). After 1-based layer L_i the last token's attention, recomputed with the
                    next layer's norm/q/k, keeps int(n_v*r_i) visual tokens; positions renumbered.
                    layers  stage boundaries (default 8/16/24)
                    lambda  r_i = lambda^i (default 0.5); or ratios r1/r2/.. explicitly
                    scope   several images: image (default) or total
                """,
            Reference = "METHODS.md §11; Cooperx521/PyramidDrop @ 6444f30",
            Create = PyramidDrop,
        };
        yield return new MethodEntry
        {
            Name = "sparsevlm", OneImagePerPrompt = true, Stage = MethodStage.Decoder, Budget = BudgetKind.Budgeted, Needs = "decoder attention rows (rater text tokens); text after the image",
            Summary = "SparseVLM v1.5: rater-text attention prunes at layers 2/6/15, DPC-kNN recycles pruned tokens",
            Usage = """
                sparsevlm[:BUDGET][,layers=l1/l2/..,budgets=b1/b2/..,recycle=true|false]
                    SparseVLM v1.5 (§10). BUDGET in 192/128/96/64 is the reference's layer-averaged count and
                    selects the per-stage keep table (192: 300/200/110, 128: 303/110/36, 96: 238/48/26,
                    64: 66/30/17). The output of 0-based layers l_i (default 2/6/15) is pruned by the
                    rater-text attention; the top 30% of pruned tokens are merged by DPC-kNN (recycle).
                    Positions renumbered; notes show the real visual count per layer.
                """,
            Reference = "METHODS.md §10; Gumpest/SparseVLMs @ 26a5f48",
            AtBudget = b => $"sparsevlm:{b}",
            Create = SparseVlm,
        };
        yield return new MethodEntry
        {
            Name = "dart", OneImagePerPrompt = true, Stage = MethodStage.Decoder, Budget = BudgetKind.Budgeted, Needs = "decoder keys (post-RoPE) of layer K-1; the final norm",
            Summary = "DART: pivots with the largest key norms keep the visual tokens least similar to them",
            Usage = """
                dart[:k=K,keep=T|ratio=R,pv=4,pt=4,pivot=knorm|knorm-min|random,seed=N,order=set|topk|ascending,count=faithful|exact]
                    DART (§8). Pivots with the largest L1 post-RoPE key norm in layer K-1 each claim the
                    keep/(pv+pt) least-similar visual tokens (final-RMSNorm cosine), greedily in CPython
                    set order (order=set, faithful). Faithful count keeps pv more than keep (128 -> 132);
                    count=exact keeps exactly keep. Original position ids. Defaults k=2, keep=128.
                """,
            Reference = "METHODS.md §8; ZichenWen1/DART @ 5a19452 (via fork), llmc dart.py",
            AtBudget = b => $"dart:k=2,keep={b}",
            Create = Dart,
        };
    }

    static object FastV(SpecText o)
    {
        int k = o.Int("k", 2, 1, 4096);
        int? keep = o.OptionalInt("keep", 1, int.MaxValue);
        double? ratio = o.OptionalDouble("ratio", 0, 1);
        int? start = o.OptionalInt("start", 0, int.MaxValue);
        int? window = o.OptionalInt("window", 1, 4096);
        var query = o.Choice("query", FastVQuery.Last, ("last", FastVQuery.Last), ("last-visual", FastVQuery.LastVisual));
        var scope = Scope(o);
        string variant = o.Choice("variant", "inplace", ("inplace", "inplace"), ("mask", "mask"));
        o.CheckAllUsed();
        if (variant == "mask")
            throw o.Error("variant=mask is not supported: it keeps the pruned rows as queries and needs an attention key mask the fused kernel does not take; "
                + "its logits at the kept rows equal the in-place variant's (METHODS.md §9), so use variant=inplace");
        if (keep is not null && ratio is not null) throw o.Error("give either keep or ratio, not both");
        if (ratio is >= 1) throw o.Error($"ratio = {ratio} drops every visual token");
        return new FastV(k, keep, ratio ?? 0.5, start, o.Spec, window, query, scope);
    }

    static object Alpha(SpecText o)
    {
        foreach (var fastvOnly in new[] { "window", "query", "start" })
            if (o.Has(fastvOnly)) throw o.Error($"{fastvOnly}= is a FastV option; the alpha score takes a=, k=, keep= and unique=");
        double a = o.OptionalDouble("a", 0, 1) ?? throw o.Error("alpha needs a=A in [0, 1], e.g. alpha:a=0.5,k=2,keep=64");
        int k = o.OptionalInt("k", 1, 4096) ?? throw o.Error("alpha needs k=K (the first pruned layer), e.g. alpha:a=0.5,k=2,keep=64");
        int keep = o.OptionalInt("keep", 1, int.MaxValue) ?? throw o.Error("alpha needs keep=M (visual tokens kept), e.g. alpha:a=0.5,k=2,keep=64");
        var unique = o.Choice("unique", AlphaUniqueness.Last, ("last", AlphaUniqueness.Last), ("mean", AlphaUniqueness.Mean));
        var scope = Scope(o);
        o.CheckAllUsed();
        return new AlphaScore(a, k, keep, unique, o.Spec, scope);
    }

    static object PyramidDrop(SpecText o)
    {
        int[] layers = o.IntList("layers", 1, 4096) ?? [8, 16, 24];
        double? lambda = o.OptionalDouble("lambda", 0, 1, exclusiveMin: true);
        double[]? ratios = o.DoubleList("ratios", 0, 1, exclusiveMin: true);
        var scope = Scope(o);
        o.CheckAllUsed();
        if (lambda is not null && ratios is not null) throw o.Error("give either lambda or ratios, not both");
        var stageRatios = ratios ?? Enumerable.Range(1, layers.Length).Select(i => Math.Pow(lambda ?? 0.5, i)).ToArray();
        return new PyramidDrop(layers, stageRatios, o.Spec) { Scope = scope };
    }

    /// <summary>scope=image (default: a budget per image) or scope=total (several images share one budget).</summary>
    static BudgetScope Scope(SpecText o) => o.Choice("scope", BudgetScope.PerImage, ("image", BudgetScope.PerImage), ("total", BudgetScope.Total));

    static object SparseVlm(SpecText o)
    {
        string? positional = o.Positional();
        int? retain = positional is null ? null : o.ParseInt("budget", positional);
        if (retain is < 1) throw o.Error($"budget must be at least 1, got {retain}");
        int[]? layers = o.IntList("layers", 0, 4096);
        int[]? budgets = o.IntList("budgets", 1, int.MaxValue);
        bool recycle = o.Bool("recycle", true);
        o.CheckAllUsed();
        if (budgets is null)
        {
            int r = retain ?? 192;
            if (!Pruning.SparseVlm.BudgetTable.TryGetValue(r, out var table))
                throw o.Error($"budget {r} is not one of {string.Join(", ", Pruning.SparseVlm.BudgetTable.Keys)} (give budgets=b1/b2/b3 for others)");
            budgets = table;
            retain = r;
        }
        layers ??= budgets.Length == Pruning.SparseVlm.DefaultLayers.Length ? Pruning.SparseVlm.DefaultLayers : null;
        if (layers is null) throw o.Error($"{budgets.Length} budgets need layers=… with as many pruning layers");
        return new SparseVlm(retain, layers, budgets, recycle, o.Spec);
    }

    static object Dart(SpecText o)
    {
        int k = o.Int("k", 2, 1, 4096);
        int? keep = o.OptionalInt("keep", 1, int.MaxValue);
        double? ratio = o.OptionalDouble("ratio", 0, 1);
        int pv = o.Int("pv", 4, 1, 4096), pt = o.Int("pt", 4, 0, 4096);
        var rule = o.Choice("pivot", DartPivotRule.MaxKeyNorm, ("knorm", DartPivotRule.MaxKeyNorm), ("knorm-min", DartPivotRule.MinKeyNorm), ("random", DartPivotRule.Random));
        var order = o.Choice("order", DartPivotOrder.CPythonSet, ("set", DartPivotOrder.CPythonSet), ("topk", DartPivotOrder.TopK), ("ascending", DartPivotOrder.Ascending));
        bool exact = o.Choice("count", false, ("faithful", false), ("exact", true));
        int seed = o.Int("seed", 0, 0, int.MaxValue);
        o.CheckAllUsed();
        if (keep is not null && ratio is not null) throw o.Error("give either keep (max_num_trunction) or ratio, not both");
        if (ratio is >= 1) throw o.Error($"ratio = {ratio} drops every visual token");
        // The reference ignores reduction_ratio whenever max_num_trunction is set, and its default is 128.
        return new Dart(k, ratio is null ? keep ?? 128 : null, ratio ?? 0.778, pv, pt, rule, order, exact, seed, o.Spec);
    }
}
