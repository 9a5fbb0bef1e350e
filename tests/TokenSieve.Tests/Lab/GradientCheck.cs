namespace TokenSieve.Tests.Lab;

/// <summary>Central finite differences in float64 loss accumulation over float32 layers. The loss is
/// L = Σ wᵢ·yᵢ with fixed random weights w, so dL/dy = w is the upstream gradient. Tolerance: the
/// relative error ‖g_analytic − g_numeric‖ / max(‖g_analytic‖, ‖g_numeric‖) must be below 2e-2.
/// With h = 1e-2 on O(1) inputs, float32 rounding of the outputs (~1e-7 relative, divided by 2h)
/// and the O(h²) truncation of the central difference each stay around 1e-4–1e-3 relative, so 2e-2
/// fails any real gradient bug (a wrong sign, factor or index gives errors of order 1) without
/// flaking on float32 noise.</summary>
internal static class GradientCheck
{
    public const double Tolerance = 2e-2;
    public const float DefaultStep = 1e-2f;

    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new System.Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    public static double Weighted(ReadOnlySpan<float> y, ReadOnlySpan<float> w)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++) s += (double)y[i] * w[i];
        return s;
    }

    /// <summary>Numerical gradient of loss() with respect to every element of x (restored after).</summary>
    public static double[] Numeric(float[] x, Func<double> loss, int maxElements = int.MaxValue, float h = DefaultStep)
    {
        float H = h;
        int n = Math.Min(x.Length, maxElements);
        var g = new double[n];
        for (int i = 0; i < n; i++)
        {
            float keep = x[i];
            x[i] = keep + H;
            double plus = loss();
            x[i] = keep - H;
            double minus = loss();
            x[i] = keep;
            g[i] = (plus - minus) / (2 * H);
        }
        return g;
    }

    public static void AssertClose(ReadOnlySpan<float> analytic, double[] numeric, string what)
    {
        double diff = 0, na = 0, nn = 0;
        for (int i = 0; i < numeric.Length; i++)
        {
            double a = analytic[i];
            diff += (a - numeric[i]) * (a - numeric[i]);
            na += a * a;
            nn += numeric[i] * numeric[i];
        }
        double rel = Math.Sqrt(diff) / Math.Max(1e-12, Math.Max(Math.Sqrt(na), Math.Sqrt(nn)));
        Assert.True(Math.Sqrt(nn) > 1e-6, $"{what}: numeric gradient is zero, the check tests nothing");
        Assert.True(rel < Tolerance, $"{what}: relative gradient error {rel:E2} ≥ {Tolerance} (analytic {string.Join(", ", analytic.ToArray().Take(numeric.Length))}; numeric {string.Join(", ", numeric)})");
    }
}
