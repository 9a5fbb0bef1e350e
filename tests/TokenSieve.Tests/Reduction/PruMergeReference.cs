namespace TokenSieve.Tests.Reduction;

/// <summary>A literal, scalar, float64 transcription of the official token_prune_merge_advanced(_plus)
/// (per-token Python loop, full candidate lists built as the reference builds them), used to check
/// the vectorised implementation on shapes and outlier counts the golden fixture does not cover.</summary>
internal static class PruMergeReference
{
    public static (int[] Kept, double[] Output, int Outliers) Run(float[] x, float[] q, float[] k, int n, int c, bool plus, double? ratio = null)
    {
        // attn = softmax(q kᵀ · C^-½)[0, 1:]
        var logits = new double[n + 1];
        for (int j = 0; j <= n; j++)
        {
            double s = 0;
            for (int d = 0; d < c; d++) s += (double)q[d] * k[j * c + d];
            logits[j] = s / Math.Sqrt(c);
        }
        double max = logits.Max();
        double sum = logits.Sum(v => Math.Exp(v - max));
        var a = new double[n];
        for (int j = 0; j < n; j++) a[j] = Math.Exp(logits[j + 1] - max) / sum;

        // outlier_dectection: numpy linear percentiles
        var sorted = a.OrderBy(v => v).ToArray();
        double Pct(double p)
        {
            double h = (n - 1) * p;
            int lo = (int)Math.Floor(h);
            return lo + 1 < n ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
        }
        double q1 = Pct(0.25), q3 = Pct(0.75), fence = q3 + 1.5 * (q3 - q1);
        int outliers = a.Count(v => v > fence);
        int kk = ratio is { } r ? (int)(n * r) : (int)(n * ((double)outliers / n));

        var ranked = Enumerable.Range(0, n).OrderByDescending(j => a[j]).ThenBy(j => j).Take(kk).ToList();
        var centres = new List<int>(ranked);
        if (plus)
        {
            int step = (int)(1.0 / ((double)outliers / n)) / 3;
            for (int p = 0; p < n - 1; p += step) if (!ranked.Contains(p)) centres.Add(p);
        }
        var complement = Enumerable.Range(0, n).Where(j => !centres.Contains(j)).ToList();

        var keyNorm = new double[n * c];
        for (int j = 0; j < n; j++)
        {
            double norm = 0;
            for (int d = 0; d < c; d++) norm += (double)k[(j + 1) * c + d] * k[(j + 1) * c + d];
            norm = Math.Max(Math.Sqrt(norm), 1e-12);
            for (int d = 0; d < c; d++) keyNorm[j * c + d] = k[(j + 1) * c + d] / norm;
        }
        int m = centres.Count;
        var output = new double[(m + 1) * c];
        for (int t = 0; t < m; t++)
        {
            int i = centres[t];
            // candidates: the other centres in order, then the complement
            var candidates = centres.Where((_, s) => s != t).Concat(complement).ToList();
            var sims = candidates.Select(u =>
            {
                double s = 0;
                for (int d = 0; d < c; d++) s += keyNorm[i * c + d] * keyNorm[u * c + d];
                return s;
            }).ToArray();
            var nearest = Enumerable.Range(0, candidates.Count).OrderByDescending(s => sims[s]).ThenBy(s => candidates[s]).Take(Math.Min(32, n - 1)).Select(s => candidates[s]);
            for (int d = 0; d < c; d++) output[t * c + d] = x[i * c + d];
            foreach (int u in nearest)
                for (int d = 0; d < c; d++) output[t * c + d] += a[u] * x[u * c + d];
        }
        foreach (int j in complement)
            for (int d = 0; d < c; d++) output[m * c + d] += a[j] * x[j * c + d];
        return (centres.ToArray(), output, outliers);
    }
}
