using System.Globalization;

namespace TokenSieve.Reduction;

/// <summary>Parses reduction spec strings (DESIGN.md §2): <c>method[:budget][(:|,)option=value]…</c>.
/// Out-of-range budgets and unknown methods or options are errors, never silent clamps.</summary>
public static class ReductionSpec
{
    /// <summary>Every method, its options and what it needs from the vision tower (CLI --help).</summary>
    public const string HelpText = """
        Visual-token reduction specs: METHOD[:BUDGET][:OPTION=VALUE][,OPTION=VALUE]...
        (options may be separated by ':' or ','; N = patches, 576 for LLaVA-1.5)

          none                      all N patches (plain LLaVA)
          prumerge                  PruMerge, reference: adaptive k = IQR outliers of a 1-head [CLS]
                                    attention from the last layer's q/k; each kept patch + its 32
                                    key-nearest patches weighted by attention; one extra token;
                                    output in descending attention order. Needs: last-layer q/k.
            ratio=R                   reference non-adaptive mode, k = floor(N*R), R in (0,1]
            keep=K                    fixed budget: K output tokens (K-1 ranked + the extra token)
            attn=surrogate|heads|feature  heads: that layer's own per-head attention, averaged;
                                      feature: the feature layer's [CLS] attention tap (as FasterVLM)
            weights=raw|normalised    normalised: attention-weighted averages (the paper's version)
          prumerge+                 PruMerge+, reference: PruMerge plus patches at raster stride
                                    floor(floor(N/c)/3) (< N-1), appended after the ranked ones.
            spatial=raster|grid       grid: a centred 2-D lattice with a similar sample count
            onfail=fallback|error     where the reference crashes (0 outliers, stride 0, nothing
                                      new to sample): fallback (default, reported as a note) or error
            attn=, weights=           as for prumerge
          random:K[:seed=S]         K patches uniformly at random (SplitMix64 Fisher-Yates), raster order
          pool:K[,stage=post|pre]   average pooling to K = Ho*Wo cells: exact w*w windows where the
                                    grid tiles, adaptive bins otherwise (192 -> 16x12, 128 -> 16x8);
                                    post (default) pools projector outputs. Needs: projector (post).
          fastervlm:K               top-K patches by feature-layer [CLS] attention (head mean), raster
                                    order. Needs: feature-layer [CLS] attention rows.
          visionzip:D+C             [CLS] + D-1 dominant patches (head-summed [CLS] attention) + C
                                    contextual merges over head-mean keys. Needs: feature-layer [CLS]
                                    attention, feature-layer keys, [CLS] hidden state.
          divprune:K                greedy max-min cosine diversity of projected tokens, raster order
            (or divprune:ratio=R      K = round-half-even(R*N); the reference default 0.098 -> 56 of 576)
                                    Needs: projector.
          tome:r=R | tome:keep=B    ToMe bipartite merging inside every tower layer up to the feature
                                    layer: r per layer, or the schedule that leaves B patches.
            inflection=X              parse_r's (r, inflection) schedule, with r=
            variant=official|llmc     llmc: sizes reset to 1 (plain means), no proportional attention
        """;

    /// <summary>Builds the reducer for <paramref name="spec"/>; throws <see cref="ReductionSpecException"/>
    /// naming the spec and the part at fault.</summary>
    public static IVisualReducer Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ReductionSpecException(spec ?? "", "empty spec; try 'none', 'prumerge', 'pool:144' (see the help text)");
        string text = spec.Trim();
        int colon = text.IndexOf(':');
        string method = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        var positional = new List<string>();
        var options = new Dictionary<string, string>();
        if (colon >= 0)
        {
            foreach (var raw in text[(colon + 1)..].Split([':', ',']))
            {
                string item = raw.Trim();
                if (item.Length == 0) throw new ReductionSpecException(spec, "empty item (doubled ':' or ',')");
                int eq = item.IndexOf('=');
                if (eq < 0)
                {
                    if (options.Count > 0) throw new ReductionSpecException(spec, $"'{item}': the budget must come before the options");
                    positional.Add(item);
                    continue;
                }
                string key = item[..eq].Trim().ToLowerInvariant(), value = item[(eq + 1)..].Trim();
                if (value.Length == 0) throw new ReductionSpecException(spec, $"option '{key}' has no value");
                if (!options.TryAdd(key, value)) throw new ReductionSpecException(spec, $"option '{key}' given twice");
            }
        }
        var p = new Parsed(spec, method, positional, options);
        return method switch
        {
            "none" => p.Done(new NoReduction(), maxPositional: 0),
            "prumerge" => ParsePruMerge(p, plus: false),
            "prumerge+" => ParsePruMerge(p, plus: true),
            "random" => p.Done(new RandomSelectionReducer(p.Budget(), p.Take("seed", v => (ulong?)p.ULong("seed", v))), 1),
            "pool" => p.Done(new PoolingReducer(p.Budget(), p.TakeOr("stage", v => p.Choice("stage", v, ("post", PoolStage.Post), ("pre", PoolStage.Pre)), PoolStage.Post)), 1),
            "fastervlm" => p.Done(new FasterVlmReducer(p.Budget()), 1),
            "visionzip" => ParseVisionZip(p),
            "divprune" => ParseDivPrune(p),
            "tome" => ParseToMe(p),
            _ => throw new ReductionSpecException(spec, $"unknown method '{method}'; known: none, prumerge, prumerge+, random, pool, fastervlm, visionzip, divprune, tome"),
        };
    }

    static IVisualReducer ParsePruMerge(Parsed p, bool plus)
    {
        var attention = p.TakeOr("attn", v => p.Choice("attn", v, ("surrogate", PruMergeAttention.Surrogate), ("heads", PruMergeAttention.PerHead), ("feature", PruMergeAttention.FeatureLayer)), PruMergeAttention.Surrogate);
        var weights = p.TakeOr("weights", v => p.Choice("weights", v, ("raw", PruMergeWeights.Raw), ("normalised", PruMergeWeights.Normalised), ("normalized", PruMergeWeights.Normalised)), PruMergeWeights.Raw);
        var options = new PruMergeOptions
        {
            Plus = plus,
            Attention = attention,
            Weights = weights,
        };
        if (plus)
        {
            if (p.Has("ratio") || p.Has("keep"))
                throw new ReductionSpecException(p.Spec, "ratio= and keep= are PruMerge options; the reference's non-adaptive PruMerge+ (training only) emits duplicate centres and a corrupted complement, so it is not offered");
            var spatial = p.TakeOr("spatial", v => p.Choice("spatial", v, ("raster", PruMergeSpatial.Raster), ("grid", PruMergeSpatial.Grid)), PruMergeSpatial.Raster);
            var onFail = p.TakeOr("onfail", v => p.Choice("onfail", v, ("fallback", PruMergeFailurePolicy.Fallback), ("error", PruMergeFailurePolicy.Error)), PruMergeFailurePolicy.Fallback);
            options = options with { Spatial = spatial, OnFailure = onFail };
        }
        else
        {
            double? ratio = p.Take("ratio", v => (double?)p.Double("ratio", v));
            if (ratio is { } r && !(r > 0 && r <= 1)) throw new ReductionSpecException(p.Spec, $"ratio must be in (0, 1], got {r.ToString(CultureInfo.InvariantCulture)}");
            int? keep = p.Take("keep", v => (int?)p.Int("keep", v));
            if (keep is < 1) throw new ReductionSpecException(p.Spec, $"keep must be at least 1 (the extra token), got {keep}");
            if (ratio is not null && keep is not null) throw new ReductionSpecException(p.Spec, "give ratio= or keep=, not both");
            options = options with { Ratio = ratio, Keep = keep };
        }
        return p.Done(new PruMergeReducer(options), maxPositional: 0);
    }

    static IVisualReducer ParseVisionZip(Parsed p)
    {
        if (p.Positional.Count != 1) throw new ReductionSpecException(p.Spec, "visionzip needs D+C, e.g. visionzip:54+10 (D counts the [CLS] token)");
        var parts = p.Positional[0].Split('+');
        if (parts.Length != 2) throw new ReductionSpecException(p.Spec, $"'{p.Positional[0]}' is not D+C, e.g. 54+10");
        int d = p.Int("D", parts[0]), c = p.Int("C", parts[1]);
        return p.Done(new VisionZipReducer(d, c), 1, positionalChecked: true);
    }

    static IVisualReducer ParseDivPrune(Parsed p)
    {
        double? ratio = p.Take("ratio", v => (double?)p.Double("ratio", v));
        if (ratio is { } r)
        {
            if (p.Positional.Count > 0) throw new ReductionSpecException(p.Spec, "give a budget or ratio=, not both");
            if (!(r > 0 && r <= 1)) throw new ReductionSpecException(p.Spec, $"ratio must be in (0, 1], got {r.ToString(CultureInfo.InvariantCulture)}");
            return p.Done(new DivPruneReducer(r), 0);
        }
        return p.Done(new DivPruneReducer(p.Budget()), 1);
    }

    static IVisualReducer ParseToMe(Parsed p)
    {
        int? r = p.Take("r", v => (int?)p.Int("r", v));
        int? keep = p.Take("keep", v => (int?)p.Int("keep", v));
        double inflection = p.Take("inflection", v => (double?)p.Double("inflection", v)) ?? 0;
        bool sizeWeighted = p.TakeOr("variant", v => p.Choice("variant", v, ("official", true), ("llmc", false)), true);
        if (p.Positional.Count > 0) throw new ReductionSpecException(p.Spec, "tome takes r=R or keep=B, e.g. tome:r=16");
        if ((r is null) == (keep is null)) throw new ReductionSpecException(p.Spec, "give exactly one of r=R (tokens merged per layer) or keep=B (patches left)");
        if (keep is not null && inflection != 0) throw new ReductionSpecException(p.Spec, "inflection= goes with r=, not keep=");
        if (r is < 1 || keep is < 1) throw new ReductionSpecException(p.Spec, "r and keep must be at least 1");
        return p.Done(new ToMeReducer(r, keep, inflection, sizeWeighted), 0);
    }

    sealed class Parsed(string spec, string method, List<string> positional, Dictionary<string, string> options)
    {
        public string Spec => spec;

        public List<string> Positional => positional;

        public T? Take<T>(string key, Func<string, T> convert)
        {
            if (!options.Remove(key, out var v)) return default;
            return convert(v);
        }

        public bool Has(string key) => options.ContainsKey(key);

        public T TakeOr<T>(string key, Func<string, T> convert, T fallback) => options.Remove(key, out var v) ? convert(v) : fallback;

        public int Budget()
        {
            if (positional.Count == 0) throw new ReductionSpecException(spec, $"{method} needs a budget, e.g. {method}:64");
            int k = Int("budget", positional[0]);
            if (k < 1) throw new ReductionSpecException(spec, $"budget must be at least 1, got {k}");
            return k;
        }

        public int Int(string what, string v)
        {
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x))
                throw new ReductionSpecException(spec, $"{what} '{v}' is not a whole number");
            return x;
        }

        public ulong ULong(string what, string v)
        {
            if (!ulong.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong x))
                throw new ReductionSpecException(spec, $"{what} '{v}' is not a non-negative whole number");
            return x;
        }

        public double Double(string what, string v)
        {
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
                throw new ReductionSpecException(spec, $"{what} '{v}' is not a number");
            return x;
        }

        public T Choice<T>(string what, string v, params (string Name, T Value)[] choices)
        {
            foreach (var (name, value) in choices)
                if (string.Equals(name, v, StringComparison.OrdinalIgnoreCase)) return value;
            throw new ReductionSpecException(spec, $"{what}='{v}' is not one of {string.Join(", ", choices.Select(c => c.Name))}");
        }

        public IVisualReducer Done(IVisualReducer reducer, int maxPositional, bool positionalChecked = false)
        {
            if (!positionalChecked && positional.Count > maxPositional)
                throw new ReductionSpecException(spec, maxPositional == 0
                    ? $"{method} takes no budget here ('{positional[0]}')"
                    : $"unexpected '{positional[maxPositional]}' after the budget");
            if (options.Count > 0)
                throw new ReductionSpecException(spec, $"unknown option '{options.Keys.First()}' for {method} (see the help text)");
            return reducer;
        }
    }
}
