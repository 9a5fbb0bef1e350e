using System.Globalization;

namespace TokenSieve.Evaluation;

/// <summary>Order statistics of measured samples (timings), shared by the speed harness, the reports
/// and the benchmarks: medians with their spread, never means of skewed timings.</summary>
public static class SampleStats
{
    /// <summary>The median (the mean of the two middle values for an even count); NaN when empty.</summary>
    public static double Median(IEnumerable<double> values) => Quantile(values, 0.5);

    /// <summary>The q-quantile with linear interpolation between order statistics (numpy's default);
    /// NaN when empty.</summary>
    public static double Quantile(IEnumerable<double> values, double q)
    {
        if (q is < 0 or > 1 || double.IsNaN(q)) throw new ArgumentOutOfRangeException(nameof(q), "q must be in [0, 1]");
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        double h = (v.Length - 1) * q;
        int lo = (int)Math.Floor(h);
        return lo + 1 < v.Length ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
    }

    /// <summary>"median (min–max)" with <paramref name="format"/>, as the tables print timings.</summary>
    public static string MedianWithRange(IEnumerable<double> values, string format = "F1")
    {
        var v = values.ToArray();
        if (v.Length == 0) return "–";
        return string.Create(CultureInfo.InvariantCulture, $"{Median(v).ToString(format, CultureInfo.InvariantCulture)} ({v.Min().ToString(format, CultureInfo.InvariantCulture)}–{v.Max().ToString(format, CultureInfo.InvariantCulture)})");
    }
}
