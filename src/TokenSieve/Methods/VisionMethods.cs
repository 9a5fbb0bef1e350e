using System.Globalization;
using TokenSieve.Reduction;

namespace TokenSieve.Methods;

/// <summary>Catalog rows of the vision-side and pre-LLM methods (N = patches, 576 for LLaVA-1.5).</summary>
static class VisionMethods
{
    public static IEnumerable<MethodEntry> All()
    {
        yield return new MethodEntry
        {
            Name = "none", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.None, Needs = "nothing",
            Summary = "all N patches (plain LLaVA)",
            Usage = "none",
            Reference = "LLaVA-1.5",
            Create = o => o.Done(new NoReduction()),
        };
        yield return new MethodEntry
        {
            Name = "prumerge", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.Adaptive, Needs = "[CLS] token; next vision layer's q/k",
            Summary = "PruMerge: IQR outliers of a 1-head [CLS] attention from the last layer's q/k; each kept patch + its 32 key-nearest patches weighted by attention; one extra token",
            Usage = """
                prumerge                  PruMerge, reference: adaptive k = IQR outliers of a 1-head [CLS]
                                          attention from the last layer's q/k; each kept patch + its 32
                                          key-nearest patches weighted by attention; one extra token;
                                          output in descending attention order. Needs: last-layer q/k.
                  ratio=R                   reference non-adaptive mode, k = floor(N*R), R in (0,1]
                  keep=K                    fixed budget: K output tokens (K-1 ranked + the extra token)
                  attn=surrogate|heads|feature  heads: that layer's own per-head attention, averaged;
                                            feature: the feature layer's [CLS] attention tap (as FasterVLM)
                  weights=raw|normalised    normalised: attention-weighted averages (the paper's version)
                """,
            Reference = "METHODS.md §1; 42Shawn/LLaVA-PruMerge @ 097c041",
            AtBudget = b => $"prumerge:keep={b}",
            Create = o => PruMerge(o, plus: false),
        };
        yield return new MethodEntry
        {
            Name = "prumerge+", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.Adaptive, Needs = "[CLS] token; next vision layer's q/k",
            Summary = "PruMerge+: PruMerge plus raster-stride spatial samples",
            Usage = """
                prumerge+                 PruMerge+, reference: PruMerge plus patches at raster stride
                                          floor(floor(N/c)/3) (< N-1), appended after the ranked ones.
                  spatial=raster|grid       grid: a centred 2-D lattice with a similar sample count
                  onfail=fallback|error     where the reference crashes (0 outliers, stride 0, nothing
                                            new to sample): fallback (default, reported as a note) or error
                  attn=, weights=           as for prumerge
                """,
            Reference = "METHODS.md §2; 42Shawn/LLaVA-PruMerge @ 097c041",
            Create = o => PruMerge(o, plus: true),
        };
        yield return new MethodEntry
        {
            Name = "random", Main = true, Stage = MethodStage.PreLlm, Budget = BudgetKind.Budgeted, Needs = "nothing",
            Summary = "K patches uniformly at random, raster order",
            Usage = """
                random:K[:seed=S]         K patches uniformly at random (SplitMix64 Fisher-Yates), raster order;
                                          without seed= the run's seed is used
                """,
            Reference = "METHODS.md §3 (canonical; no official code)",
            AtBudget = b => $"random:{b}",
            Create = o => o.Done(new RandomSelectionReducer(o.Budget(), o.ULong("seed"))),
        };
        yield return new MethodEntry
        {
            Name = "pool", Main = true, Stage = MethodStage.PreLlm, Budget = BudgetKind.Budgeted, Needs = "the projector (stage=post)",
            Summary = "average pooling of the patch grid to K cells",
            Usage = """
                pool:K[,stage=post|pre]   average pooling to K = Ho*Wo cells: exact w*w windows where the
                                          grid tiles, adaptive bins otherwise (192 -> 16x12, 128 -> 16x8);
                                          post (default) pools projector outputs. Needs: projector (post).
                """,
            Reference = "METHODS.md §4 (canonical; no official code)",
            AtBudget = b => $"pool:{b}",
            Create = o => o.Done(new PoolingReducer(o.Budget(), o.Choice("stage", PoolStage.Post, ("post", PoolStage.Post), ("pre", PoolStage.Pre)))),
        };
        yield return new MethodEntry
        {
            Name = "fastervlm", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.Budgeted, Needs = "[CLS] token; feature layer's attention rows",
            Summary = "top-K patches by the feature layer's [CLS] attention (head mean), raster order",
            Usage = """
                fastervlm:K               top-K patches by feature-layer [CLS] attention (head mean), raster
                                          order. Needs: feature-layer [CLS] attention rows.
                """,
            Reference = "METHODS.md §5; Theia-4869/FasterVLM @ f5d5f12",
            AtBudget = b => $"fastervlm:{b}",
            Create = o => o.Done(new FasterVlmReducer(o.Budget())),
        };
        yield return new MethodEntry
        {
            Name = "visionzip", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.Budgeted, Needs = "[CLS] token; feature layer's attention rows and keys",
            Summary = "[CLS] + D-1 dominant patches + C contextual merges",
            Usage = """
                visionzip:D+C             [CLS] + D-1 dominant patches (head-summed [CLS] attention) + C
                                          contextual merges over head-mean keys. Needs: feature-layer [CLS]
                                          attention, feature-layer keys, [CLS] hidden state.
                                          A budget B sweeps as D+C with C = max(1, B/6).
                """,
            Reference = "METHODS.md §6; dvlab-research/VisionZip @ 3151f6d",
            AtBudget = b => { int c = Math.Max(1, b / 6); return $"visionzip:{b - c}+{c}"; },
            Create = VisionZip,
        };
        yield return new MethodEntry
        {
            Name = "divprune", Main = true, Stage = MethodStage.PreLlm, Budget = BudgetKind.Budgeted, Needs = "the projector",
            Summary = "greedy max-min cosine diversity of projected tokens, raster order",
            Usage = """
                divprune:K                greedy max-min cosine diversity of projected tokens, raster order
                  (or divprune:ratio=R      K = round-half-even(R*N); the reference default 0.098 -> 56 of 576)
                                          Needs: projector.
                """,
            Reference = "METHODS.md §7; vbdi/divprune @ 799e2d9",
            AtBudget = b => $"divprune:{b}",
            Create = DivPrune,
        };
        yield return new MethodEntry
        {
            Name = "tome", Main = true, Stage = MethodStage.Vision, Budget = BudgetKind.Budgeted, Needs = "merging inside the vision tower",
            Summary = "ToMe bipartite soft matching inside every tower layer up to the features",
            Usage = """
                tome:r=R | tome:keep=B    ToMe bipartite merging inside every tower layer up to the feature
                                          layer: r per layer, or the schedule that leaves B patches.
                  inflection=X              parse_r's (r, inflection) schedule, with r=
                  variant=official|llmc     llmc: sizes reset to 1 (plain means), no proportional attention
                """,
            Reference = "METHODS.md §12; facebookresearch/ToMe @ af95e4b, ModelTC/llmc @ 05eedff0",
            AtBudget = b => $"tome:keep={b}",
            Create = ToMe,
        };
    }

    static object PruMerge(SpecText o, bool plus)
    {
        var options = new PruMergeOptions
        {
            Plus = plus,
            Attention = o.Choice("attn", PruMergeAttention.Surrogate, ("surrogate", PruMergeAttention.Surrogate), ("heads", PruMergeAttention.PerHead), ("feature", PruMergeAttention.FeatureLayer)),
            Weights = o.Choice("weights", PruMergeWeights.Raw, ("raw", PruMergeWeights.Raw), ("normalised", PruMergeWeights.Normalised), ("normalized", PruMergeWeights.Normalised)),
        };
        if (plus)
        {
            if (o.Has("ratio") || o.Has("keep"))
                throw o.Error("ratio= and keep= are PruMerge options; the reference's non-adaptive PruMerge+ (training only) emits duplicate centres and a corrupted complement, so it is not offered");
            options = options with
            {
                Spatial = o.Choice("spatial", PruMergeSpatial.Raster, ("raster", PruMergeSpatial.Raster), ("grid", PruMergeSpatial.Grid)),
                OnFailure = o.Choice("onfail", PruMergeFailurePolicy.Fallback, ("fallback", PruMergeFailurePolicy.Fallback), ("error", PruMergeFailurePolicy.Error)),
            };
        }
        else
        {
            double? ratio = o.Double("ratio");
            if (ratio is { } r && !(r > 0 && r <= 1)) throw o.Error($"ratio must be in (0, 1], got {r.ToString(CultureInfo.InvariantCulture)}");
            int? keep = o.Int("keep");
            if (keep is < 1) throw o.Error($"keep must be at least 1 (the extra token), got {keep}");
            if (ratio is not null && keep is not null) throw o.Error("give ratio= or keep=, not both");
            options = options with { Ratio = ratio, Keep = keep };
        }
        return o.Done(new PruMergeReducer(options));
    }

    static object VisionZip(SpecText o)
    {
        if (o.PositionalCount != 1) throw o.Error("visionzip needs D+C, e.g. visionzip:54+10 (D counts the [CLS] token)");
        string dc = o.Positional()!;
        var parts = dc.Split('+');
        if (parts.Length != 2) throw o.Error($"'{dc}' is not D+C, e.g. 54+10");
        return o.Done(new VisionZipReducer(o.ParseInt("D", parts[0]), o.ParseInt("C", parts[1])));
    }

    static object DivPrune(SpecText o)
    {
        if (o.Double("ratio") is { } r)
        {
            if (o.PositionalCount > 0) throw o.Error("give a budget or ratio=, not both");
            if (!(r > 0 && r <= 1)) throw o.Error($"ratio must be in (0, 1], got {r.ToString(CultureInfo.InvariantCulture)}");
            return o.Done(new DivPruneReducer(r));
        }
        return o.Done(new DivPruneReducer(o.Budget()));
    }

    static object ToMe(SpecText o)
    {
        int? r = o.Int("r"), keep = o.Int("keep");
        double inflection = o.Double("inflection") ?? 0;
        bool sizeWeighted = o.Choice("variant", true, ("official", true), ("llmc", false));
        if (o.PositionalCount > 0) throw o.Error("tome takes r=R or keep=B, e.g. tome:r=16");
        if ((r is null) == (keep is null)) throw o.Error("give exactly one of r=R (tokens merged per layer) or keep=B (patches left)");
        if (keep is not null && inflection != 0) throw o.Error("inflection= goes with r=, not keep=");
        if (r is < 1 || keep is < 1) throw o.Error("r and keep must be at least 1");
        return o.Done(new ToMeReducer(r, keep, inflection, sizeWeighted));
    }
}
