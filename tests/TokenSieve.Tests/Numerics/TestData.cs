namespace TokenSieve.Tests.Numerics;

static class TestData
{
    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>Max over i of |a−b| / (atol + rtol·|b|) — ≤ 1 means within tolerance.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (e == a) continue;
            double err = Math.Abs(a - e);
            if (!(err <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}: element {i} expected {e:R} got {a:R} (|diff| {err:E3} > {atol:E1} + {rtol:E1}·|expected|)");
        }
    }
}
