using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>Where one configuration's kept tokens come from on one task (METHODS.md §15.6), over the
/// answers that recorded it. Each surviving visual token carries one unit of mass, spread over its
/// source patches by its merge weights (a kept patch gives its patch 1; a pooled token spreads 1 over
/// its window). <see cref="Heatmap"/>[p] is the mean mass on patch p per answer (for pure selection:
/// how often p is kept). Row and column fractions divide a row's (column's) mass by its patch count.
/// The bias is the mass-weighted mean row (column) relative to the grid centre, scaled to [−1, 1]:
/// &gt; 0 means towards the bottom (right). The same is given for the ranking signal where the method
/// has one, each answer's scores normalised to sum 1 over the patches it scored.</summary>
public sealed record PositionProfile(string Task, string Spec, string Method, int? Budget, int Height, int Width, int Answers,
    double[] Heatmap, double[] RowFraction, double[] ColumnFraction, double RowBias, double ColumnBias,
    double[]? RankingHeatmap, double? RankingRowBias, double? RankingColumnBias, string? RankingStage, double MeanKeptTokens);

/// <summary>FLOPs against measured latency for one configuration (over every task it ran).</summary>
public sealed record CostPoint(string Spec, string Method, int? Budget, int Answers, double MeanFlops, double MedianPrefillMs, double MedianTtftMs, double MeanVisualTokens);

/// <summary>The analysis of a results file: position profiles per task × configuration and the
/// FLOPs-vs-latency table with its rank agreement.</summary>
public sealed record PositionAnalysis(IReadOnlyList<PositionProfile> Profiles, IReadOnlyList<CostPoint> Costs, double? SpearmanFlopsVsPrefill,
    double? KendallFlopsVsPrefill, int RecordsWithoutProvenance, IReadOnlyList<ReadIssue> Issues)
{
    /// <summary>Reads a results file (ours) and analyses it. Records without the "kept" field (older
    /// files, foreign answer files) are counted and left out of the position profiles.</summary>
    public static PositionAnalysis FromFile(string resultsPath)
    {
        var issues = new List<ReadIssue>();
        var records = ResultsFile.Read(resultsPath, issues);
        return From(records, issues);
    }

    public static PositionAnalysis From(IReadOnlyList<PredictionRecord> records, IReadOnlyList<ReadIssue>? issues = null)
    {
        var profiles = new List<PositionProfile>();
        int without = records.Count(r => r.Kept is null);
        foreach (var g in records.Where(r => r.Kept is not null && r.Task is not null).GroupBy(r => (r.Task!, Key(r))))
        {
            var list = g.ToList();
            var grid = list[0].Kept!.Grid;
            var same = list.Where(r => r.Kept!.Grid == grid).ToList();
            profiles.Add(Profile(g.Key.Item1, g.Key.Item2, same[0].Method ?? g.Key.Item2, same[0].Budget, grid.Height, grid.Width, same));
        }
        var costs = records.Where(r => r.Spec is not null && r.Flops is not null && r.PrefillMs is not null).GroupBy(Key)
            .Select(g => new CostPoint(g.Key, g.First().Method ?? g.Key, g.First().Budget, g.Count(), g.Average(r => r.Flops!.Value),
                SampleStats.Median(g.Select(r => r.PrefillMs!.Value)), SampleStats.Median(g.Where(r => r.TtftMs is not null).Select(r => r.TtftMs!.Value)),
                g.Where(r => r.VisualTokens is not null).Select(r => (double)r.VisualTokens!.Value).DefaultIfEmpty(double.NaN).Average()))
            .ToList();
        double? spearman = costs.Count >= 3 ? RankCorrelation.Spearman(costs.Select(c => c.MeanFlops).ToArray(), costs.Select(c => c.MedianPrefillMs).ToArray()) : null;
        double? kendall = costs.Count >= 3 ? RankCorrelation.KendallTauB(costs.Select(c => c.MeanFlops).ToArray(), costs.Select(c => c.MedianPrefillMs).ToArray()) : null;
        return new PositionAnalysis(profiles, costs, spearman, kendall, without, issues ?? []);
    }

    static string Key(PredictionRecord r) => (r.Spec ?? PredictionScoring.ExternalSpec) + (r.Attention is null ? "" : "@" + r.Attention);

    static PositionProfile Profile(string task, string spec, string method, int? budget, int h, int w, List<PredictionRecord> records)
    {
        int n = h * w;
        var heat = new double[n];
        var rank = new double[n];
        int ranked = 0;
        string? stage = null;
        double kept = 0;
        foreach (var r in records)
        {
            var k = r.Kept!;
            foreach (var token in k.Tokens)
            {
                if (token is null) continue;
                kept++;
                double total = token.Weights.Sum(x => (double)x);
                if (!(total > 0)) continue;
                for (int i = 0; i < token.Patches.Length; i++) heat[token.Patches[i]] += token.Weights[i] / total;
            }
            if (k.Ranking is { } scores)
            {
                double sum = 0;
                foreach (float x in scores) if (float.IsFinite(x) && x > 0) sum += x;
                if (sum > 0)
                {
                    for (int p = 0; p < n; p++) if (float.IsFinite(scores[p]) && scores[p] > 0) rank[p] += scores[p] / sum;
                    ranked++;
                    stage ??= k.RankingStage;
                }
            }
        }
        int count = records.Count;
        for (int p = 0; p < n; p++) heat[p] /= count;
        var rows = new double[h];
        var cols = new double[w];
        for (int p = 0; p < n; p++)
        {
            rows[p / w] += heat[p] / w;
            cols[p % w] += heat[p] / h;
        }
        var (rowBias, colBias) = Bias(heat, h, w);
        double[]? rankHeat = null;
        double? rankRow = null, rankCol = null;
        if (ranked > 0)
        {
            rankHeat = rank.Select(x => x / ranked).ToArray();
            (rankRow, rankCol) = Bias(rankHeat, h, w);
        }
        return new PositionProfile(task, spec, method, budget, h, w, count, heat, rows, cols, rowBias, colBias, rankHeat, rankRow, rankCol, stage, kept / count);
    }

    /// <summary>Mass-weighted mean row and column relative to the centre, in [−1, 1].</summary>
    static (double Row, double Col) Bias(double[] mass, int h, int w)
    {
        double total = 0, row = 0, col = 0;
        for (int p = 0; p < mass.Length; p++)
        {
            total += mass[p];
            row += mass[p] * (p / w);
            col += mass[p] * (p % w);
        }
        if (!(total > 0)) return (double.NaN, double.NaN);
        double Scale(double mean, int size) => size <= 1 ? 0 : (mean - (size - 1) / 2.0) / ((size - 1) / 2.0);
        return (Scale(row / total, h), Scale(col / total, w));
    }

    public string ToMarkdown(string title = "Position statistics")
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("# ").AppendLine(title).AppendLine();
        sb.AppendLine("Each visual token that reached the decoder's last layer carries one unit of mass, spread over its source patches by its merge weights (METHODS.md §15.6). " +
                      "Bias is the mass-weighted mean row (column) relative to the grid centre in [−1, 1]; > 0 is towards the bottom (right). " +
                      "The ranking signal is the score that chose the tokens (each answer's scores normalised to sum 1).").AppendLine();
        if (RecordsWithoutProvenance > 0) sb.AppendLine($"{RecordsWithoutProvenance} answers carry no provenance (older files or other tools) and are left out.").AppendLine();
        sb.AppendLine("| task | spec | answers | kept tokens | row bias | column bias | ranking | ranking row bias | ranking column bias | top-row fraction | bottom-row fraction |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
        foreach (var p in Profiles)
            sb.AppendLine(string.Create(inv, $"| {p.Task} | `{p.Spec}` | {p.Answers} | {p.MeanKeptTokens:F1} | {p.RowBias:+0.000;-0.000;0.000} | {p.ColumnBias:+0.000;-0.000;0.000} | {p.RankingStage ?? "–"} | {F(p.RankingRowBias)} | {F(p.RankingColumnBias)} | {p.RowFraction[0]:F3} | {p.RowFraction[^1]:F3} |"));
        sb.AppendLine();
        sb.AppendLine("## FLOPs and measured latency").AppendLine();
        sb.AppendLine(string.Create(inv, $"Rank agreement between mean FLOPs and median prefill time over {Costs.Count} configurations: Spearman ρ = {F(SpearmanFlopsVsPrefill)}, Kendall τ-b = {F(KendallFlopsVsPrefill)} (1 = FLOPs order them exactly as the clock does)."));
        sb.AppendLine();
        sb.AppendLine("| spec | answers | visual tokens | GFLOPs (mean) | prefill ms (median) | TTFT ms (median) | ms per GFLOP |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var c in Costs.OrderByDescending(c => c.MeanFlops))
            sb.AppendLine(string.Create(inv, $"| `{c.Spec}` | {c.Answers} | {c.MeanVisualTokens:F1} | {c.MeanFlops / 1e9:F3} | {c.MedianPrefillMs:F2} | {c.MedianTtftMs:F2} | {c.MedianPrefillMs / (c.MeanFlops / 1e9):F1} |"));
        return sb.ToString();

        static string F(double? x) => x is { } v && double.IsFinite(v) ? v.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "–";
    }

    public string ToCsv()
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("task,spec,answers,height,width,kept_tokens,row_bias,column_bias,ranking_stage,ranking_row_bias,ranking_column_bias,row_fractions,column_fractions\n");
        foreach (var p in Profiles)
            sb.AppendLine(string.Join(",", p.Task, Csv(p.Spec), p.Answers.ToString(inv), p.Height.ToString(inv), p.Width.ToString(inv), p.MeanKeptTokens.ToString("R", inv),
                p.RowBias.ToString("R", inv), p.ColumnBias.ToString("R", inv), p.RankingStage ?? "", p.RankingRowBias?.ToString("R", inv) ?? "",
                p.RankingColumnBias?.ToString("R", inv) ?? "", string.Join(";", p.RowFraction.Select(x => x.ToString("G6", inv))),
                string.Join(";", p.ColumnFraction.Select(x => x.ToString("G6", inv)))));
        return sb.ToString();

        static string Csv(string s) => s.IndexOfAny([',', '"']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        profiles = Profiles.Select(p => new
        {
            task = p.Task, spec = p.Spec, method = p.Method, budget = p.Budget, answers = p.Answers, grid = new[] { p.Height, p.Width }, kept_tokens = p.MeanKeptTokens,
            row_bias = p.RowBias, column_bias = p.ColumnBias, row_fraction = p.RowFraction, column_fraction = p.ColumnFraction, heatmap = p.Heatmap,
            ranking_stage = p.RankingStage, ranking_row_bias = p.RankingRowBias, ranking_column_bias = p.RankingColumnBias, ranking_heatmap = p.RankingHeatmap,
        }),
        costs = Costs.Select(c => new { spec = c.Spec, method = c.Method, budget = c.Budget, answers = c.Answers, mean_flops = c.MeanFlops, median_prefill_ms = c.MedianPrefillMs, median_ttft_ms = c.MedianTtftMs, mean_visual_tokens = c.MeanVisualTokens }),
        spearman_flops_vs_prefill = SpearmanFlopsVsPrefill, kendall_flops_vs_prefill = KendallFlopsVsPrefill, records_without_provenance = RecordsWithoutProvenance,
    }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}

/// <summary>Rank correlations (ties share their mean rank).</summary>
public static class RankCorrelation
{
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException("x and y differ in length");
        var rx = Ranks(x);
        var ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>Kendall's τ-b: (concordant − discordant) / √((n0 − tx)(n0 − ty)).</summary>
    public static double KendallTauB(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new ArgumentException("x and y differ in length");
        long concordant = 0, discordant = 0, tx = 0, ty = 0, n0 = 0;
        for (int i = 0; i < x.Count; i++)
            for (int j = i + 1; j < x.Count; j++)
            {
                n0++;
                int a = Math.Sign(x[i] - x[j]), b = Math.Sign(y[i] - y[j]);
                if (a == 0) tx++;
                if (b == 0) ty++;
                if (a * b > 0) concordant++;
                else if (a * b < 0) discordant++;
            }
        double denominator = Math.Sqrt((double)(n0 - tx) * (n0 - ty));
        return denominator == 0 ? double.NaN : (concordant - discordant) / denominator;
    }

    static double[] Ranks(IReadOnlyList<double> v)
    {
        var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && v[order[j + 1]] == v[order[i]]) j++;
            double mean = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = mean;
            i = j + 1;
        }
        return ranks;
    }
}
