using TokenSieve.Numerics;

namespace TokenSieve.Pruning;

/// <summary>DPC-kNN clustering and merging (SparseVLM's <c>cluster_and_merge</c>, METHODS.md §10).
/// The reference materialises the n×n distance matrix; here each pass recomputes the distances it
/// needs row by row, so memory stays O(n + c) while the results are the same.</summary>
internal static class DpcKnn
{
    /// <summary>Result: merged tokens [Clusters, Dim] in centre order, and the cluster of each input row.</summary>
    public sealed record Result(float[] Merged, int Clusters, int[] Centres, int[] Assignment);

    /// <summary>D_ij = ‖x_i − x_j‖₂ / √C.</summary>
    public static float Distance(ReadOnlySpan<float> x, int dim, int i, int j)
    {
        var a = x.Slice(i * dim, dim);
        var b = x.Slice(j * dim, dim);
        double ss = 0;
        for (int t = 0; t < dim; t++)
        {
            double diff = a[t] - b[t];
            ss += diff * diff;
        }
        return (float)(Math.Sqrt(ss) / Math.Sqrt(dim));
    }

    /// <summary>Clusters the n rows of x [n, dim] into <paramref name="clusters"/> groups and returns their means.</summary>
    public static Result ClusterAndMerge(ReadOnlySpan<float> x, int n, int dim, int clusters)
    {
        if (x.Length != n * dim) throw new ArgumentException($"DPC-kNN input has {x.Length} values, expected {n}x{dim}");
        if (clusters < 1 || clusters > n) throw new ArgumentOutOfRangeException(nameof(clusters), $"{clusters} clusters for {n} tokens");
        var density = new float[n];
        var row = new float[n];
        float distMax = 0f;
        // Pass 1: density ρ_i = exp(−mean of D² over the c nearest, self included), and max D.
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                row[j] = Distance(x, dim, i, j);
                if (row[j] > distMax) distMax = row[j];
            }
            Array.Sort(row);
            double sum = 0;
            for (int t = 0; t < clusters; t++) sum += (double)row[t] * row[t];
            // The reference adds rand·1e-6 here to break ties; we stay deterministic (ties: lower index).
            density[i] = (float)Math.Exp(-(sum / clusters));
        }
        // Pass 2: δ_i = min D_ij over denser j, else the global max; score = δ·ρ.
        var score = new float[n];
        for (int i = 0; i < n; i++)
        {
            float delta = distMax;
            for (int j = 0; j < n; j++)
                if (density[j] > density[i])
                {
                    float dij = Distance(x, dim, i, j);
                    if (dij < delta) delta = dij;
                }
            score[i] = delta * density[i];
        }
        var centres = Selection.TopK(score, clusters);
        // Pass 3: nearest centre (first in centre order on ties); every centre in its own cluster.
        var assignment = new int[n];
        for (int i = 0; i < n; i++)
        {
            int best = 0;
            float bestD = float.PositiveInfinity;
            for (int k = 0; k < clusters; k++)
            {
                float dk = Distance(x, dim, centres[k], i);
                if (dk < bestD) { bestD = dk; best = k; }
            }
            assignment[i] = best;
        }
        for (int k = 0; k < clusters; k++) assignment[centres[k]] = k;
        // merged_k = Σ x_i · 1/(|cluster k| + 1e-6), the reference's weighted index_add.
        var count = new int[clusters];
        foreach (int a in assignment) count[a]++;
        var merged = new float[clusters * dim];
        for (int i = 0; i < n; i++)
        {
            int k = assignment[i];
            float w = 1f / (count[k] + 1e-6f);
            var dst = merged.AsSpan(k * dim, dim);
            var src = x.Slice(i * dim, dim);
            for (int t = 0; t < dim; t++) dst[t] += src[t] * w;
        }
        return new Result(merged, clusters, centres, assignment);
    }
}
