using TokenSieve.Reduction;
using TokenSieve.Numerics;

namespace TokenSieve.Tests.Reduction;

public sealed class ReductionMathTests
{
    static float[] RandomValues(int n, int seed, int distinct)
    {
        var rng = new Random(seed);
        // few distinct values → many ties
        return Enumerable.Range(0, n).Select(_ => (float)rng.Next(distinct) / 7f).ToArray();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(17, 3)]
    [InlineData(576, 5)]
    [InlineData(576, 100000)]
    [InlineData(1000, 2)]
    public void KthSmallestMatchesSorting(int n, int distinct)
    {
        var values = RandomValues(n, n + distinct, distinct);
        var sorted = values.OrderBy(v => v).ToArray();
        for (int rank = 0; rank < n; rank += Math.Max(1, n / 37))
        {
            var scratch = (float[])values.Clone();
            Assert.Equal(sorted[rank], Selection.KthSmallest(scratch, rank));
            Assert.All(scratch[..rank], v => Assert.True(v <= sorted[rank]));
            Assert.All(scratch[(rank + 1)..], v => Assert.True(v >= sorted[rank]));
        }
    }

    [Theory]
    [InlineData(576, 4, 33)]
    [InlineData(576, 1000000, 139)]
    [InlineData(10, 2, 10)]
    [InlineData(9, 3, 0)]
    [InlineData(300, 7, 150)]
    public void TopKIsValueDescendingThenIndexAscending(int n, int distinct, int k)
    {
        var values = RandomValues(n, 17 * n + k, distinct);
        var expected = Enumerable.Range(0, n).OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).ToArray();
        Assert.Equal(expected, Selection.TopK(values, k));
    }

    [Fact]
    public void RowTopKKeepsLowerIndicesOnTiesAndSkipsTheExcludedIndex()
    {
        float[] row = [5, 1, 5, 3, 5, 9, 0];
        var result = new int[3];
        Selection.RowTopK(row, 5, result);
        Assert.Equal([0, 2, 4], result);
        Selection.RowTopK(row, -1, result);
        Assert.Equal([0, 2, 5], result);
        foreach (var (n, k, distinct) in new[] { (576, 32, 6), (576, 32, 1000000), (575, 32, 3), (40, 32, 5), (64, 32, 2), (33, 32, 4), (100, 7, 1), (2000, 32, 1000000), (2000, 40, 7), (577, 32, 2), (300, 16, 5), (48, 20, 4), (15, 9, 3) })
            for (int exclude = -1; exclude < n; exclude += 1 + n / 5)
            {
                var values = RandomValues(n, n * 31 + k + exclude, distinct);
                var copy = (float[])values.Clone();
                var top = new int[k];
                Selection.RowTopK(values, exclude, top);
                var expected = Enumerable.Range(0, n).Where(i => i != exclude).OrderByDescending(i => values[i]).ThenBy(i => i).Take(k).OrderBy(i => i);
                Assert.Equal(expected, top); // ascending index order
                Assert.Equal(copy, values); // the scratch use is undone
            }
    }

    [Fact]
    public void RowTopKOrdersSignedZerosAndNegativesAndSkipsNaN()
    {
        float[] row = [-0f, 0f, -1f, float.NaN, -3f, float.NegativeInfinity, 2f, -0f];
        var result = new int[4];
        Selection.RowTopK(row, -1, result);
        Assert.Equal([0, 1, 6, 7], result); // ±0 compare equal: both zeros and the later −0 beat −1
        var three = new int[3];
        Selection.RowTopK(row, 6, three);
        Assert.Equal([0, 1, 7], three);
        var seven = new int[7];
        Selection.RowTopK(row, -1, seven);
        Assert.Equal([0, 1, 2, 4, 5, 6, 7], seven); // NaN is never a candidate
        Assert.Throws<ArgumentException>(() => Selection.RowTopK(row, -1, new int[8]));
        float[] zeros = [0f, 2f, -0f, 0f, -0f];
        var two = new int[2];
        Selection.RowTopK(zeros, -1, two);
        Assert.Equal([0, 1], two);
        Selection.RowTopK(zeros, 0, two);
        Assert.Equal([1, 2], two); // −0 at index 2 ties with +0 at index 3: the lower index wins
    }

    [Fact]
    public void NumpyPercentileIsLinearInterpolation()
    {
        // np.percentile([1, 2, 3, 4], [25, 75]) = [1.75, 3.25]; n = 576: Q1 = v143 + .75(v144 − v143)
        Assert.Equal(1.75, Percentiles.NumpyPercentile(new float[] { 4, 1, 3, 2 }, 25), 12);
        Assert.Equal(3.25, Percentiles.NumpyPercentile(new float[] { 4, 1, 3, 2 }, 75), 12);
        var values = RandomValues(576, 9, 1000000);
        var sorted = values.Select(v => (double)v).OrderBy(v => v).ToArray();
        var (q1, q3, fence) = Percentiles.IqrUpperFence(values);
        Assert.Equal(sorted[143] + 0.75 * (sorted[144] - sorted[143]), q1, 12);
        Assert.Equal(sorted[431] + 0.25 * (sorted[432] - sorted[431]), q3, 12);
        Assert.Equal(q3 + 1.5 * (q3 - q1), fence, 12);
    }

    [Fact]
    public void FiniteScanFindsTheFirstBadValueAnywhere()
    {
        for (int n = 1; n < 70; n++)
            for (int bad = 0; bad < n; bad += 5)
            {
                var v = new float[n];
                v[bad] = bad % 2 == 0 ? float.NaN : float.NegativeInfinity;
                Assert.Equal(bad, RowKernels.IndexOfNonFinite(v));
            }
        Assert.Equal(-1, RowKernels.IndexOfNonFinite(new float[33]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(1024)]
    [InlineData(1031)]
    public void WeightedRowSumMatchesScalarOnOddWidths(int cols)
    {
        var rng = new Random(cols);
        var m = Enumerable.Range(0, 9 * cols).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        int[] rows = [3, 0, 8, 3];
        float[] weights = [1f, 0.25f, -2f, 0.5f];
        var y = new float[cols];
        RowKernels.WeightedRowSum(m, cols, rows, weights, y);
        for (int j = 0; j < cols; j++)
        {
            double expected = 0;
            for (int s = 0; s < rows.Length; s++) expected += (double)weights[s] * m[rows[s] * cols + j];
            Assert.True(Math.Abs(expected - y[j]) <= 1e-6, $"column {j}"); // 4 fp32 FMAs of values < 2: error ~2e-7
        }
        RowKernels.WeightedRowSum(m, cols, [], [], y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }
}
