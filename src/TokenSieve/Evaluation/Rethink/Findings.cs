using System.Globalization;
using TokenSieve.Numerics;

namespace TokenSieve.Evaluation;

/// <summary>One of the rethinking paper's claims, judged on this model and data.</summary>
/// <param name="Verdict">confirmed, refuted, inconclusive (the 95 % interval crosses the decision
/// point, usually 0) or not-applicable (the data lack the task; <paramref name="Evidence"/> says which
/// task would decide it).</param>
/// <param name="Rule">How the verdict follows from the effect and its interval.</param>
public sealed record Finding(string Id, string Statement, string Verdict, double Effect, Interval Ci95, int N, string Evidence, string Rule);

/// <summary>Everything the findings are judged from.</summary>
public sealed record FindingInputs(RethinkPlan Plan, IReadOnlyList<ConfigurationScore> Scores, IReadOnlyList<PredictionRecord> Records, SpeedReport? Speed);

/// <summary>The verdict rules of `tokensieve rethink` (f1–f8). Effects are differences of headline scores
/// (points) unless a finding says otherwise; intervals are 95 % bootstraps paired by item (stratified by
/// task when a finding pools tasks) or over timing runs; one rule for every "A beats B" claim:
/// confirmed when the interval lies above 0, refuted when it lies below 0, inconclusive when it crosses
/// 0 — so "A matches B" cannot be confirmed, only not refuted.</summary>
public static class Findings
{
    public const string Confirmed = "confirmed", Refuted = "refuted", Inconclusive = "inconclusive", NotApplicable = "not-applicable";

    const string BeatsRule = "effect = mean over tasks and budgets of A − B (points); confirmed if the 95 % CI > 0, refuted if < 0, else inconclusive";

    public static IReadOnlyList<Finding> Evaluate(FindingInputs x) =>
    [
        F1(x), F2(x), F3(x), F4(x), F5(x), F6(x), F7(x), F8(x),
    ];

    static Finding Verdict(string id, string statement, double effect, Interval ci, int n, string evidence, string rule) =>
        new(id, statement, !double.IsFinite(effect) || !double.IsFinite(ci.Low) ? Inconclusive : ci.Low > 0 ? Confirmed : ci.High < 0 ? Refuted : Inconclusive,
            effect, ci, n, evidence, rule);

    static Finding Missing(string id, string statement, string why, string rule) => new(id, statement, NotApplicable, double.NaN, new Interval(double.NaN, double.NaN), 0, why, rule);

    /// <summary>The configurations of one method at one budget, by task.</summary>
    static Dictionary<string, ConfigurationScore> At(FindingInputs x, string spec) =>
        x.Scores.Where(s => s.Spec == spec && s.Dataset is not null && s.Predictions is { Count: > 0 } && !s.Task.Contains("/turn", StringComparison.Ordinal))
            .ToDictionary(s => s.Task);

    /// <summary>Paired A − B over every task both ran, pooled over the given (A, B) spec pairs.</summary>
    static (double Effect, Interval Ci, int N, string Evidence)? Pooled(FindingInputs x, IEnumerable<(string A, string B)> pairs, Func<ConfigurationScore, bool>? taskFilter = null,
        Func<EvalItem, bool>? itemFilter = null)
    {
        var strata = new List<(EvalDataset, IReadOnlyDictionary<string, string>, IReadOnlyDictionary<string, string>, AnswerParsing)>();
        var parts = new List<string>();
        foreach (var (a, b) in pairs)
        {
            var sa = At(x, a);
            var sb = At(x, b);
            foreach (var (task, ca) in sa)
            {
                if (!sb.TryGetValue(task, out var cb) || (taskFilter is not null && !taskFilter(ca))) continue;
                var ds = itemFilter is null ? ca.Dataset! : ca.Dataset! with { Items = ca.Dataset!.Items.Where(itemFilter).ToList() };
                if (!ds.Items.Any(i => ca.Predictions!.ContainsKey(i.QuestionId) && cb.Predictions!.ContainsKey(i.QuestionId))) continue;
                strata.Add((ds, ca.Predictions!, cb.Predictions!, ca.Score.Parsing));
                parts.Add($"{task} {a} {F(ca.Score.Main)} vs {b} {F(cb.Score.Main)}");
            }
        }
        if (strata.Count == 0) return null;
        var (effect, ci, n) = PairedStatistics.CompareAcross(strata);
        return (effect, ci, n, string.Join("; ", parts));
    }

    static string F(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);

    static string Fx(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>f1: the better of random and pooling against the better of FastV and SparseVLM, per task and budget.</summary>
    static Finding F1(FindingInputs x)
    {
        const string statement = "random and pooling match or beat FastV and SparseVLM";
        var pairs = new List<(string, string)>();
        foreach (int b in x.Plan.WindowSide.Keys)
        {
            string uniform = Best(x, [$"random:{b}", $"pool:{b}"]), attention = Best(x, [$"fastv:k={x.Plan.Layer},keep={b}", $"sparsevlm:{b}"]);
            if (uniform.Length > 0 && attention.Length > 0) pairs.Add((uniform, attention));
        }
        var r = Pooled(x, pairs);
        if (r is null) return Missing("f1", statement, "no task ran both a uniform method and FastV/SparseVLM", BeatsRule);
        var v = r.Value;
        return Verdict("f1", statement, v.Effect, v.Ci, v.N, $"A = the better of random and pool, B = the better of FastV and SparseVLM at each budget (by mean score over tasks): {v.Evidence}", BeatsRule);
    }

    /// <summary>The spec among <paramref name="specs"/> with the highest mean headline score over tasks.</summary>
    static string Best(FindingInputs x, string[] specs) =>
        specs.Select(s => (Spec: s, Scores: At(x, s))).Where(t => t.Scores.Count > 0).OrderByDescending(t => t.Scores.Values.Average(c => c.Score.Main)).Select(t => t.Spec).FirstOrDefault() ?? "";

    /// <summary>f2: FastV's kept set sits lower (or higher) in the image than random's, per answer.</summary>
    static Finding F2(FindingInputs x)
    {
        const string statement = "attention-ranked selection is position-biased";
        const string rule = "effect = mean over items of (FastV's kept mass-weighted row) − (random's), in [−2, 2] (> 0: lower in the image, as the paper finds); " +
                            "confirmed if the 95 % CI excludes 0, refuted if it lies within ±0.05 (no bias worth the name), else inconclusive";
        var diffs = new List<double>();
        var perTask = new List<string>();
        foreach (int b in x.Plan.WindowSide.Keys)
        {
            var fastv = ByItem(x, $"fastv:k={x.Plan.Layer},keep={b}");
            var random = ByItem(x, $"random:{b}");
            foreach (var task in fastv.Keys.Intersect(random.Keys))
            {
                var d = fastv[task].Where(kv => random[task].ContainsKey(kv.Key)).Select(kv => kv.Value - random[task][kv.Key]).Where(double.IsFinite).ToList();
                if (d.Count == 0) continue;
                diffs.AddRange(d);
                perTask.Add($"{task}@{b} {d.Average():+0.000;-0.000}");
            }
        }
        if (diffs.Count == 0) return Missing("f2", statement, "no answers recorded where FastV's and random's kept tokens came from (run with a results file that has the 'kept' field)", rule);
        double effect = diffs.Average();
        var ci = PairedStatistics.MeanInterval(diffs);
        string verdict = ci.Low > 0 || ci.High < 0 ? Confirmed : ci.Low >= -0.05 && ci.High <= 0.05 ? Refuted : Inconclusive;
        string direction = effect > 0 ? "towards the bottom" : "towards the top";
        return new Finding("f2", statement, verdict, effect, ci, diffs.Count, $"FastV keeps tokens {direction} of random's by {effect:+0.000;-0.000} rows (scaled); per task and budget: {string.Join(", ", perTask)}", rule);
    }

    /// <summary>Per task, per question id: the scaled mass-weighted mean row of the kept tokens.</summary>
    static Dictionary<string, Dictionary<string, double>> ByItem(FindingInputs x, string spec)
    {
        var result = new Dictionary<string, Dictionary<string, double>>();
        foreach (var r in x.Records.Where(r => r.Spec == spec && r.Attention is null && r.Kept is not null && r.Task is not null && r.Turn is null))
        {
            if (!result.TryGetValue(r.Task!, out var map)) result[r.Task!] = map = new Dictionary<string, double>(StringComparer.Ordinal);
            map.TryAdd(r.QuestionId, RowPosition(r.Kept!));
        }
        return result;
    }

    /// <summary>The kept mass-weighted mean row, scaled to [−1, 1] about the centre.</summary>
    static double RowPosition(KeptSources k)
    {
        double mass = 0, row = 0;
        foreach (var t in k.Tokens)
        {
            if (t is null) continue;
            double total = t.Weights.Sum(w => (double)w);
            if (!(total > 0)) continue;
            for (int i = 0; i < t.Patches.Length; i++)
            {
                double m = t.Weights[i] / total;
                mass += m;
                row += m * (t.Patches[i] / k.Grid.Width);
            }
        }
        int h = k.Grid.Height;
        return mass > 0 && h > 1 ? (row / mass - (h - 1) / 2.0) / ((h - 1) / 2.0) : double.NaN;
    }

    static Finding F3(FindingInputs x)
    {
        const string statement = "a window constraint recovers FastV's loss";
        var pairs = x.Plan.WindowSide.Select(kv => ($"fastv:k={x.Plan.Layer},keep={kv.Key},window={kv.Value}", $"fastv:k={x.Plan.Layer},keep={kv.Key}"));
        var r = Pooled(x, pairs);
        if (r is null) return Missing("f3", statement, "window FastV and FastV did not both run", BeatsRule);
        return Verdict("f3", statement, r.Value.Effect, r.Value.Ci, r.Value.N, $"A = window FastV, B = FastV: {r.Value.Evidence}", BeatsRule);
    }

    static Finding F4(FindingInputs x)
    {
        const string statement = "grounding collapses under pruning; uniform methods keep most of it";
        const string rule = "needs a grounding task (boxes scored Acc@IoU≥0.5): effect = the better uniform method's share of the unpruned score − the better attention method's";
        var grounding = x.Scores.Where(s => s.Task.Contains("grounding", StringComparison.OrdinalIgnoreCase) || s.Task.StartsWith("refcoco", StringComparison.OrdinalIgnoreCase)).ToList();
        if (grounding.Count == 0) return Missing("f4", statement, "the data have no grounding task; lab-grounding (the lab v2 family) or RefCOCO/RefCOCO+/RefCOCOg would decide it", rule);
        var pairs = x.Plan.WindowSide.Keys.Select(b => (Best(x, [$"random:{b}", $"pool:{b}"]), Best(x, [$"fastv:k={x.Plan.Layer},keep={b}", $"sparsevlm:{b}", $"fastervlm:{b}"])));
        var r = Pooled(x, pairs.Where(p => p.Item1.Length > 0 && p.Item2.Length > 0), s => grounding.Any(g => g.Task == s.Task));
        if (r is null) return Missing("f4", statement, "the grounding task did not run the uniform and attention methods", rule);
        return Verdict("f4", statement, r.Value.Effect, r.Value.Ci, r.Value.N, r.Value.Evidence, BeatsRule);
    }

    /// <summary>Whether a question names what to look at (text-conditioned) or asks about the whole
    /// image: lab reading ("what is written?") and lab counting of all objects are not; every other
    /// question (existence, attribute, spatial, retrieval, targeted counting, benchmark questions) is.</summary>
    public static bool IsTextConditioned(EvalItem item) =>
        !(item.Task.StartsWith("lab-reading", StringComparison.Ordinal) || (item.Task.StartsWith("lab-counting", StringComparison.Ordinal) && item.Category == "objects"));

    static Finding F5(FindingInputs x)
    {
        const string statement = "language guidance helps only text-conditioned tasks";
        const string rule = "A = FastV (last position's row), B = FastV_VIS (last image token's row). Confirmed if A − B > 0 (95 % CI) on text-conditioned questions " +
                            "and not > 0 on the other questions; refuted if A − B < 0 on text-conditioned questions or > 0 on the others; else inconclusive " +
                            "(also when no question of the other kind ran)";
        var pairs = x.Plan.WindowSide.Keys.Select(b => ($"fastv:k={x.Plan.Layer},keep={b}", $"fastv:k={x.Plan.Layer},keep={b},query=last-visual")).ToList();
        var text = Pooled(x, pairs, itemFilter: IsTextConditioned);
        var other = Pooled(x, pairs, itemFilter: i => !IsTextConditioned(i));
        if (text is null) return Missing("f5", statement, "FastV and FastV_VIS did not both run on text-conditioned questions", rule);
        var t = text.Value;
        string otherText = other is { } o ? $"other questions {Fx(o.Effect)} {o.Ci}" : "no question that is not text-conditioned (lab-reading or lab-counting of all objects would decide the 'only')";
        string verdict = t.Ci.High < 0 || (other is { } helpsElsewhere && helpsElsewhere.Ci.Low > 0) ? Refuted
            : t.Ci.Low > 0 && other is { } elsewhere && elsewhere.Ci.Low <= 0 ? Confirmed
            : Inconclusive;
        return new Finding("f5", statement, verdict, t.Effect, t.Ci, t.N + (other?.N ?? 0), $"text-conditioned questions: A − B = {Fx(t.Effect)} {t.Ci}; {otherText}", rule);
    }

    static Finding F6(FindingInputs x)
    {
        const string statement = "the best α differs between tasks";
        const string rule = "α* = each task's best α (A = 1 is FastV). Confirmed if two tasks with different α* each prefer their own α* to the other's with a 95 % CI > 0; " +
                            "refuted if every task has the same α*; else inconclusive. Effect = the largest |α*_i − α*_j| between such tasks";
        var alphas = x.Plan.AlphaSpecs.Select(s => (Spec: s, A: double.Parse(s.Split(',')[0]["alpha:a=".Length..], CultureInfo.InvariantCulture), Scores: At(x, s))).Where(t => t.Scores.Count > 0).ToList();
        if (alphas.Count < 2) return Missing("f6", statement, "the α sweep did not run", rule);
        var tasks = alphas.SelectMany(a => a.Scores.Keys).Distinct().Where(t => alphas.All(a => a.Scores.ContainsKey(t))).ToList();
        var best = tasks.ToDictionary(t => t, t => alphas.OrderByDescending(a => a.Scores[t].Score.Main).ThenBy(a => a.A).First());
        string evidence = string.Join(", ", best.Select(kv => $"{kv.Key} α*={kv.Value.A.ToString(CultureInfo.InvariantCulture)} ({F(kv.Value.Scores[kv.Key].Score.Main)})"));
        if (best.Values.Select(b => b.A).Distinct().Count() <= 1)
            return new Finding("f6", statement, tasks.Count >= 2 ? Refuted : Inconclusive, 0, new Interval(0, 0), tasks.Count, evidence, rule);
        double effect = 0;
        int n = 0;
        var pairsShown = new List<string>();
        for (int i = 0; i < tasks.Count; i++)
            for (int j = i + 1; j < tasks.Count; j++)
            {
                var (ti, tj) = (tasks[i], tasks[j]);
                var (ai, aj) = (best[ti], best[tj]);
                if (ai.A == aj.A) continue;
                var ci = PairedStatistics.Compare(ai.Scores[ti].Dataset!, ai.Spec, ai.Scores[ti].Predictions!, aj.Spec, aj.Scores[ti].Predictions!, ai.Scores[ti].Score.Parsing);
                var cj = PairedStatistics.Compare(aj.Scores[tj].Dataset!, aj.Spec, aj.Scores[tj].Predictions!, ai.Spec, ai.Scores[tj].Predictions!, aj.Scores[tj].Score.Parsing);
                n = Math.Max(n, ci.Units + cj.Units);
                if (ci.Ci95.Low > 0 && cj.Ci95.Low > 0)
                {
                    effect = Math.Max(effect, Math.Abs(ai.A - aj.A));
                    pairsShown.Add($"{ti} prefers α={ai.A} by {Fx(ci.Difference)} {ci.Ci95}, {tj} prefers α={aj.A} by {Fx(cj.Difference)} {cj.Ci95}");
                }
            }
        return new Finding("f6", statement, pairsShown.Count > 0 ? Confirmed : Inconclusive, effect, new Interval(effect, effect), n,
            evidence + (pairsShown.Count > 0 ? "; " + string.Join("; ", pairsShown) : "; no two tasks prefer different α beyond noise"), rule);
    }

    static Finding F7(FindingInputs x)
    {
        const string statement = "FLOPs do not predict latency (their ranks disagree)";
        const string rule = "effect = the share of configuration pairs with different prefill FLOPs that the median prefill time orders the other way " +
                            "(configurations timed with fused attention; pairs of equal FLOPs — e.g. random and pool at one budget — say nothing about FLOPs " +
                            "and are left out, so ties cannot pass for disagreement; 0: FLOPs order them exactly as the clock does); CI from 2000 bootstrap " +
                            "resamples of each configuration's timed runs; confirmed if the CI lies above 0, refuted if the upper bound is below 0.05, else inconclusive";
        var rows = x.Speed?.Rows.Where(r => r.Attention == AttentionMode.Fused && r.Runs.Count > 0).ToList() ?? [];
        if (rows.Count < 3) return Missing("f7", statement, "fewer than three configurations were timed", rule);
        if (rows.Select(r => r.PrefillFlops).Distinct().Count() < 2) return Missing("f7", statement, "every timed configuration has the same prefill FLOPs", rule);
        double Tau(IReadOnlyList<double> times) => DiscordantShare(rows.Select(r => r.PrefillFlops).ToArray(), times);
        double observed = Tau(rows.Select(r => r.MedianPrefillMs).ToArray());
        var rng = new Random((int)(PairedStatistics.DefaultSeed & 0x7FFFFFFF));
        var samples = new double[PairedStatistics.BootstrapResamples];
        for (int s = 0; s < samples.Length; s++)
            samples[s] = Tau(rows.Select(r => SampleStats.Median(Enumerable.Range(0, r.Runs.Count).Select(_ => r.Runs[rng.Next(r.Runs.Count)].PrefillMs))).ToArray());
        var ci = new Interval(SampleStats.Quantile(samples.Where(double.IsFinite), 0.025), SampleStats.Quantile(samples.Where(double.IsFinite), 0.975));
        string verdict = ci.Low > 0 ? Confirmed : ci.High < 0.05 ? Refuted : Inconclusive;
        var pairs = new List<string>();
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < rows.Count; j++)
                if (rows[i].PrefillFlops < rows[j].PrefillFlops && rows[i].MedianPrefillMs > rows[j].MedianPrefillMs)
                    pairs.Add($"{rows[i].Spec} ({rows[i].PrefillFlops / 1e9:0.###} GFLOP, {rows[i].MedianPrefillMs:0.00} ms) is slower than {rows[j].Spec} ({rows[j].PrefillFlops / 1e9:0.###} GFLOP, {rows[j].MedianPrefillMs:0.00} ms)");
        return new Finding("f7", statement, verdict, observed, ci, rows.Count, pairs.Count > 0 ? string.Join("; ", pairs.Take(4)) + (pairs.Count > 4 ? $"; {pairs.Count - 4} more" : "") : "FLOPs and time order every pair alike", rule);
    }

    /// <summary>Of the pairs whose <paramref name="flops"/> differ, the share that <paramref name="times"/>
    /// orders the other way (a tie in time counts half); NaN when every pair has equal FLOPs.</summary>
    internal static double DiscordantShare(IReadOnlyList<double> flops, IReadOnlyList<double> times)
    {
        double discordant = 0;
        int pairs = 0;
        for (int i = 0; i < flops.Count; i++)
            for (int j = i + 1; j < flops.Count; j++)
            {
                if (flops[i] == flops[j]) continue;
                pairs++;
                double d = Math.Sign(flops[i] - flops[j]) * Math.Sign(times[i] - times[j]);
                discordant += d < 0 ? 1 : d == 0 ? 0.5 : 0;
            }
        return pairs == 0 ? double.NaN : discordant / pairs;
    }

    static Finding F8(FindingInputs x)
    {
        const string statement = "eager attention erases the speed-up of attention-based methods";
        const string rule = "effect = prefill time of the unpruned model with fused attention / FastV's with eager attention (a user's speed-up when an attention-based method forces eager attention); " +
                            "confirmed if the 95 % CI lies below 1 (slower than not pruning), refuted if it lies above 1, else inconclusive; CI from bootstrap resamples of the timed runs";
        var speed = x.Speed;
        string fastv = $"fastv:k={x.Plan.Layer},keep={x.Plan.AlphaBudget}";
        var baseline = speed?.Rows.FirstOrDefault(r => r.Spec == "none" && r.Attention == AttentionMode.Fused);
        var eager = speed?.Rows.FirstOrDefault(r => r.Spec == fastv && r.Attention == AttentionMode.Eager);
        var fused = speed?.Rows.FirstOrDefault(r => r.Spec == fastv && r.Attention == AttentionMode.Fused);
        if (baseline is null || eager is null) return Missing("f8", statement, "FastV was not timed with eager attention next to the fused unpruned model", rule);
        double effect = baseline.MedianPrefillMs / eager.MedianPrefillMs;
        var rng = new Random((int)(PairedStatistics.DefaultSeed & 0x7FFFFFFF));
        double Resample(SpeedRow row) => SampleStats.Median(Enumerable.Range(0, row.Runs.Count).Select(_ => row.Runs[rng.Next(row.Runs.Count)].PrefillMs));
        var samples = Enumerable.Range(0, PairedStatistics.BootstrapResamples).Select(_ => Resample(baseline) / Resample(eager)).ToArray();
        var ci = new Interval(SampleStats.Quantile(samples, 0.025), SampleStats.Quantile(samples, 0.975));
        string evidence = $"prefill: none fused {baseline.MedianPrefillMs:0.00} ms, {fastv} fused {fused?.MedianPrefillMs:0.00} ms ({(fused is null ? "–" : Fx(baseline.MedianPrefillMs / fused.MedianPrefillMs))}x), " +
                          $"{fastv} eager {eager.MedianPrefillMs:0.00} ms ({Fx(effect)}x vs fused none); prompt {baseline.Runs[0].PromptTokens} tokens";
        return new Finding("f8", statement, ci.High < 1 ? Confirmed : ci.Low > 1 ? Refuted : Inconclusive, effect, ci, eager.Runs.Count, evidence, rule);
    }
}
