using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace TokenSieve.Numerics;

/// <summary>numpy-compatible order statistics (PruMerge's IQR outlier rule).</summary>
internal static class Percentiles
{
    /// <summary>numpy.percentile(values, q) with the default 'linear' method: the order statistics
    /// v⌊h⌋ and v⌊h⌋+1 at h = (n−1)·q/100 combined by numpy 1.24's _lerp (including its t ≥ 0.5
    /// branch), in float64. <paramref name="scratch"/> is a copy of the values that gets reordered;
    /// q in [0, 100].</summary>
    public static double NumpyPercentile(Span<float> scratch, double q)
    {
        int n = scratch.Length;
        double h = (n - 1) * (q / 100.0);
        int lo = (int)Math.Floor(h);
        double a = Selection.KthSmallest(scratch, lo);
        double b = lo + 1 < n ? TensorPrimitives.Min(scratch[(lo + 1)..]) : a; // the next order statistic
        double t = h - lo;
        double diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /// <summary>The IQR upper fence Q3 + 1.5·(Q3 − Q1) of <paramref name="values"/> with numpy
    /// linear percentiles (PruMerge's outlier_dectection), O(n) by selection.</summary>
    public static (double Q1, double Q3, double Fence) IqrUpperFence(ReadOnlySpan<float> values)
    {
        var scratch = values.ToArray();
        double q1 = NumpyPercentile(scratch, 25), q3 = NumpyPercentile(scratch, 75);
        return (q1, q3, q3 + 1.5 * (q3 - q1));
    }

}
