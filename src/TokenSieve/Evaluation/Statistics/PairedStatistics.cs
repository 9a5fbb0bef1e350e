namespace TokenSieve.Evaluation;

/// <summary>A 95 % confidence interval.</summary>
public readonly record struct Interval(double Low, double High)
{
    /// <summary>True when the interval contains 0 (a difference that could be noise).</summary>
    public bool CrossesZero => Low <= 0 && High >= 0;

    public override string ToString() => $"[{BenchmarkReport.F(Low, 2)}, {BenchmarkReport.F(High, 2)}]";
}

/// <summary>A task score with its bootstrap interval over <see cref="Units"/> resampling units.</summary>
public sealed record ScoreEstimate(double Value, Interval Ci95, int Units);

/// <summary>A − B on one task, paired by item: the difference of the headline scores, its bootstrap
/// interval (the same resampled items for both), and a paired test's two-sided p-value.</summary>
/// <param name="Test">"mcnemar" (exact, on per-item correctness) or "permutation" (paired: each unit's
/// two answers swapped at random, the metric recomputed).</param>
public sealed record PairedComparison(string Task, string A, string B, double Difference, Interval Ci95, double PValue, string Test, int Units);

/// <summary>Statistics that say when a difference between two methods is real (issue: small
/// evaluation sets make differences of a few points noise). Everything is paired by item: the same
/// items, answered by both configurations with the same seeds.
/// <list type="bullet">
/// <item>Resampling unit: an item, or its <see cref="EvalItem.Group"/> when items are scored
/// together (MME's image pairs, MMBench's circular rotations), so the unit of independence is kept.</item>
/// <item>Intervals: percentile bootstrap, <see cref="BootstrapResamples"/> resamples of the units with
/// replacement, the task's own scorer recomputed on each (so F1 and MME sums get correct intervals),
/// fixed seed <see cref="DefaultSeed"/>: the same numbers every time.</item>
/// <item>Tests: exact McNemar (two-sided binomial on the discordant units) where the headline metric is
/// the fraction of units answered correctly (GQA-style exact match, ScienceQA); a paired permutation test
/// otherwise (POPE's F1, VQA accuracy, MME, MMBench), exact over all 2^n swaps when n ≤ 12, else
/// <see cref="PermutationResamples"/> random swaps, p = (1 + #{|d*| ≥ |d|}) / (1 + resamples).</item>
/// </list></summary>
public static class PairedStatistics
{
    public const int BootstrapResamples = 2000;
    public const int PermutationResamples = 4000;
    public const ulong DefaultSeed = 20261203;

    /// <summary>The score of one configuration with its 95 % bootstrap interval.</summary>
    public static ScoreEstimate Estimate(EvalDataset dataset, IReadOnlyDictionary<string, string> predictions, AnswerParsing parsing = AnswerParsing.Llava,
        int resamples = BootstrapResamples, ulong seed = DefaultSeed)
    {
        var units = Units(dataset, predictions, null);
        double value = Metric(dataset, units, predictions, parsing);
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        var samples = new double[resamples];
        var pick = new List<EvalItem>[units.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < units.Count; i++) pick[i] = units[rng.Next(units.Count)];
            samples[r] = Metric(dataset, pick, predictions, parsing);
        }
        return new ScoreEstimate(value, Percentile95(samples), units.Count);
    }

    /// <summary>A − B over the items both configurations answered.</summary>
    public static PairedComparison Compare(EvalDataset dataset, string nameA, IReadOnlyDictionary<string, string> a, string nameB, IReadOnlyDictionary<string, string> b,
        AnswerParsing parsing = AnswerParsing.Llava, int resamples = BootstrapResamples, int permutations = PermutationResamples, ulong seed = DefaultSeed)
    {
        var units = Units(dataset, a, b);
        double diff = Metric(dataset, units, a, parsing) - Metric(dataset, units, b, parsing);
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        var samples = new double[resamples];
        var pick = new List<EvalItem>[units.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < units.Count; i++) pick[i] = units[rng.Next(units.Count)];
            samples[r] = Metric(dataset, pick, a, parsing) - Metric(dataset, pick, b, parsing);
        }
        string test;
        double p;
        if (IsUnitAccuracy(dataset.Kind))
        {
            test = "mcnemar";
            int onlyA = 0, onlyB = 0;
            foreach (var unit in units)
            {
                bool ra = Correct(dataset, unit, a, parsing), rb = Correct(dataset, unit, b, parsing);
                if (ra && !rb) onlyA++;
                else if (rb && !ra) onlyB++;
            }
            p = McNemarExact(onlyA, onlyB);
        }
        else
        {
            test = "permutation";
            p = PermutationPValue(dataset, units, a, b, parsing, diff, permutations, seed);
        }
        return new PairedComparison(dataset.Task, nameA, nameB, diff, Percentile95(samples), p, test, units.Count);
    }

    /// <summary>A − B averaged over several tasks (or item subsets), each paired by item: the effect is the
    /// mean over strata of each stratum's difference of headline scores; its interval is a stratified
    /// bootstrap (units resampled within each stratum, the same resample for A and B).</summary>
    public static (double Effect, Interval Ci95, int Units) CompareAcross(IReadOnlyList<(EvalDataset Dataset, IReadOnlyDictionary<string, string> A, IReadOnlyDictionary<string, string> B, AnswerParsing Parsing)> strata,
        int resamples = BootstrapResamples, ulong seed = DefaultSeed)
    {
        if (strata.Count == 0) throw new EvaluationException("no task to compare on");
        var units = strata.Select(s => Units(s.Dataset, s.A, s.B)).ToList();
        double effect = strata.Select((s, i) => Metric(s.Dataset, units[i], s.A, s.Parsing) - Metric(s.Dataset, units[i], s.B, s.Parsing)).Average();
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        var samples = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < strata.Count; i++)
            {
                var u = units[i];
                var pick = new List<EvalItem>[u.Count];
                for (int j = 0; j < u.Count; j++) pick[j] = u[rng.Next(u.Count)];
                sum += Metric(strata[i].Dataset, pick, strata[i].A, strata[i].Parsing) - Metric(strata[i].Dataset, pick, strata[i].B, strata[i].Parsing);
            }
            samples[r] = sum / strata.Count;
        }
        return (effect, Percentile95(samples), units.Sum(u => u.Count));
    }

    /// <summary>The 95 % percentile-bootstrap interval of the mean of paired per-item differences.</summary>
    public static Interval MeanInterval(IReadOnlyList<double> values, int resamples = BootstrapResamples, ulong seed = DefaultSeed)
    {
        if (values.Count == 0) return new Interval(double.NaN, double.NaN);
        var rng = new Random((int)(seed & 0x7FFFFFFF));
        var samples = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Count; i++) sum += values[rng.Next(values.Count)];
            samples[r] = sum / values.Count;
        }
        return Percentile95(samples);
    }

    /// <summary>Exact two-sided McNemar test: p = min(1, 2·P(X ≤ min(b, c))), X ~ Binomial(b + c, ½).</summary>
    public static double McNemarExact(int onlyA, int onlyB)
    {
        int n = onlyA + onlyB, k = Math.Min(onlyA, onlyB);
        if (n == 0) return 1;
        double logHalfN = -n * Math.Log(2), tail = 0, logC = 0; // log C(n, 0) = 0
        for (int i = 0; i <= k; i++)
        {
            if (i > 0) logC += Math.Log(n - i + 1) - Math.Log(i);
            tail += Math.Exp(logC + logHalfN);
        }
        return Math.Min(1, 2 * tail);
    }

    static bool IsUnitAccuracy(TaskKind kind) => kind is TaskKind.Gqa or TaskKind.ExactMatch or TaskKind.ScienceQa or TaskKind.YesNo or TaskKind.Grounding;

    /// <summary>Resampling units: items grouped by <see cref="EvalItem.Group"/> (else one item each), in
    /// dataset order, keeping items answered by every given configuration and with ground truth.</summary>
    static List<List<EvalItem>> Units(EvalDataset dataset, IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string>? b)
    {
        var units = new List<List<EvalItem>>();
        var byKey = new Dictionary<string, List<EvalItem>>(StringComparer.Ordinal);
        foreach (var item in dataset.Items)
        {
            if (item.Answers.Count == 0 || !a.ContainsKey(item.QuestionId) || (b is not null && !b.ContainsKey(item.QuestionId))) continue;
            string key = item.Group ?? item.QuestionId;
            if (!byKey.TryGetValue(key, out var unit)) { byKey[key] = unit = []; units.Add(unit); }
            unit.Add(item);
        }
        if (units.Count == 0) throw new EvaluationException($"{dataset.Task}: no item answered by every configuration compared");
        return units;
    }

    /// <summary>The task's headline metric on a multiset of units (duplicates count again).</summary>
    static double Metric(EvalDataset dataset, IReadOnlyList<List<EvalItem>> units, IReadOnlyDictionary<string, string> predictions, AnswerParsing parsing)
    {
        if (dataset.Kind is TaskKind.Gqa or TaskKind.ExactMatch or TaskKind.TextVqa or TaskKind.Vqa or TaskKind.YesNo or TaskKind.Grounding)
        {
            // 100 × the mean item score, as Scoring computes it, without rebuilding the dataset
            double sum = 0;
            int count = 0;
            foreach (var unit in units)
                foreach (var item in unit) { sum += Scoring.ItemScore(dataset.Kind, item, predictions[item.QuestionId], parsing); count++; }
            return count == 0 ? 0 : 100 * sum / count;
        }
        var items = new List<EvalItem>();
        var texts = new Dictionary<string, string>(StringComparer.Ordinal);
        int copy = 0;
        foreach (var unit in units)
        {
            copy++;
            foreach (var item in unit)
            {
                // each drawn copy becomes its own item, so scorers that group by id see it again
                string id = item.QuestionId + "#" + copy;
                items.Add(item with { QuestionId = id, Group = item.Group is null ? null : item.Group + "#" + copy });
                texts[id] = predictions[item.QuestionId];
            }
        }
        return Scoring.Score(dataset with { Items = items }, texts, parsing).Main;
    }

    /// <summary>A unit is correct when the task scores all of its items 1.</summary>
    static bool Correct(EvalDataset dataset, List<EvalItem> unit, IReadOnlyDictionary<string, string> predictions, AnswerParsing parsing) =>
        unit.All(item => Scoring.ItemScore(dataset.Kind, item, predictions[item.QuestionId], parsing) >= 1);

    static double PermutationPValue(EvalDataset dataset, List<List<EvalItem>> units, IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b,
        AnswerParsing parsing, double observed, int permutations, ulong seed)
    {
        int n = units.Count;
        bool exact = n <= 12 && (1 << n) <= permutations;
        int trials = exact ? 1 << n : permutations, atLeast = 0;
        var rng = new Random((int)((seed + 1) & 0x7FFFFFFF));
        var swappedA = new Dictionary<string, string>(a, StringComparer.Ordinal);
        var swappedB = new Dictionary<string, string>(b, StringComparer.Ordinal);
        for (int t = 0; t < trials; t++)
        {
            for (int u = 0; u < n; u++)
            {
                bool swap = exact ? ((t >> u) & 1) == 1 : rng.Next(2) == 1;
                foreach (var item in units[u])
                {
                    string id = item.QuestionId;
                    swappedA[id] = swap ? b[id] : a[id];
                    swappedB[id] = swap ? a[id] : b[id];
                }
            }
            double d = Metric(dataset, units, swappedA, parsing) - Metric(dataset, units, swappedB, parsing);
            if (Math.Abs(d) >= Math.Abs(observed) - 1e-12) atLeast++;
        }
        return exact ? (double)atLeast / trials : (1.0 + atLeast) / (1.0 + trials);
    }

    static Interval Percentile95(double[] samples)
    {
        var finite = samples.Where(double.IsFinite).ToList();
        return finite.Count == 0 ? new Interval(double.NaN, double.NaN) : new Interval(SampleStats.Quantile(finite, 0.025), SampleStats.Quantile(finite, 0.975));
    }
}
