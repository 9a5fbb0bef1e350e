using TokenSieve.Pruning;

namespace TokenSieve.Tests.Pruning;

public sealed class DpcKnnTests
{
    /// <summary>The streaming DPC-kNN (O(n) memory) against the materialised-matrix version written
    /// from METHODS.md §10 in <see cref="NaiveSparseVlm"/>. Means agree to 1e-5 (float32 sums of ≤ 40 rows).</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 1)]
    [InlineData(23, 3)]
    [InlineData(40, 5)]
    public void Streaming_clustering_matches_the_materialised_reference(int n, int clusters)
    {
        const int dim = 16;
        var rng = new Random(n * 31 + clusters);
        // Three blobs so that densities and centres are well separated.
        var x = new float[n * dim];
        for (int i = 0; i < n; i++)
            for (int t = 0; t < dim; t++)
                x[i * dim + t] = (float)((i % 3) * 2.0 * (t % 2 == 0 ? 1 : -1) + RandomLlava.Normal(rng, 1, 0.5)[0]);
        var result = DpcKnn.ClusterAndMerge(x, n, dim, clusters);
        var rows = Enumerable.Range(0, n).Select(i => x.AsSpan(i * dim, dim).ToArray().Select(v => (double)v).ToArray()).ToArray();
        var expected = NaiveSparseVlm.ClusterAndMerge(rows, clusters);
        Assert.Equal(clusters, result.Clusters);
        for (int k = 0; k < clusters; k++)
            for (int t = 0; t < dim; t++)
                Assert.True(Math.Abs(expected[k][t] - result.Merged[k * dim + t]) <= 1e-5, $"cluster {k} dim {t}: {result.Merged[k * dim + t]} vs {expected[k][t]}");
        for (int k = 0; k < clusters; k++) Assert.Equal(k, result.Assignment[result.Centres[k]]);
    }
}
