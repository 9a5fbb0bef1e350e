using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Numerics;

public class ElementwiseTests
{
    /// <summary>Lengths around the 8/16-lane vector widths plus a long row, so every tail path runs.</summary>
    public static readonly int[] Lengths = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 47, 64, 100, 1029];

    static float[] Inputs(int n, int seed, float range)
    {
        var a = TestData.Random(n, seed, range);
        // Saturation and special values, where they fit.
        float[] specials = [0f, -0f, 1e-30f, -1e-30f, 88f, -88f, 100f, -100f, float.PositiveInfinity, float.NegativeInfinity];
        for (int i = 0; i < Math.Min(n, specials.Length); i++) a[i * 7 % n] = specials[i];
        return a;
    }

    /// <summary>erf in double to ~1e-15: Maclaurin series below 2.5 (largest term ≈ e^6.25, so ≈1e-13 lost at worst),
    /// Laplace's continued fraction for erfc above.</summary>
    static double ErfExact(double x)
    {
        double ax = Math.Abs(x);
        double r;
        if (ax < 2.5)
        {
            double term = ax, sum = ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double t = ax;
            for (int n = 120; n >= 1; n--) t = ax + n / 2.0 / t;
            r = 1 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / t;
        }
        return x < 0 ? -r : r;
    }

    /// <summary>Tolerance: the vector exp is within ~2 ulp of MathF.Exp, and x·σ(x) amplifies relative error by at
    /// most ~1, so 1e-6 relative (≈ 8 ulp) with a 1e-37 absolute floor for results that underflow.</summary>
    [Fact]
    public void SigmoidActivationsMatchScalarReferences()
    {
        foreach (int n in Lengths)
        {
            var x = Inputs(n, n + 1, 30f);
            var up = TestData.Random(n, n + 2, 2f);
            Check(x, Activations.QuickGelu, Activations.QuickGeluReference, "QuickGelu");
            Check(x, Activations.Silu, Activations.SiluReference, "Silu");
            var expected = (float[])x.Clone();
            var got = (float[])x.Clone();
            Activations.SwiGluReference(expected, up);
            Activations.SwiGlu(got, up);
            TestData.AssertClose(expected, got, 1e-37, 1e-6, $"SwiGlu n={n}");
        }

        static void Check(float[] x, Action<Span<float>> kernel, Action<Span<float>> reference, string what)
        {
            var expected = (float[])x.Clone();
            var got = (float[])x.Clone();
            reference(expected);
            kernel(got);
            TestData.AssertClose(expected, got, 1e-37, 1e-6, $"{what} n={x.Length}");
        }
    }

    /// <summary>The vector erf must meet the ≤ ~1e-7 relative target against an exact erf: we allow 2.4e-7 relative
    /// (2 ulp) plus 6e-8 absolute (half an ulp of 1, where erf saturates).</summary>
    [Fact]
    public void ErfIsAccurateToAboutOneUlp()
    {
        for (double x = -6; x <= 6; x += 0.000731)
        {
            float xf = (float)x;
            double want = ErfExact(xf);
            float got = VectorMath.Erf(xf);
            Assert.True(Math.Abs(got - want) <= 6e-8 + 2.4e-7 * Math.Abs(want), $"erf({xf:R}) = {got:R}, exact {want:R}");
        }
        Assert.Equal(0f, VectorMath.Erf(0f));
        Assert.Equal(1f, VectorMath.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, VectorMath.Erf(float.NegativeInfinity));
    }

    /// <summary>GELU against the exact formula in double. Tolerance: PyTorch's fp32 formula 0.5·x·(1 + erf(x/√2))
    /// cancels for negative x, so an erf error of one ulp of 1 (6e-8) becomes an absolute error of ≈ 0.5·|x|·6e-8;
    /// we allow 1.2e-7·|x| absolute plus 1e-6 relative, which the double-erf scalar reference also meets.</summary>
    [Fact]
    public void GeluErfMatchesExactGelu()
    {
        foreach (int n in Lengths)
        {
            var x = TestData.Random(n, n + 3, 8f);
            var got = (float[])x.Clone();
            var reference = (float[])x.Clone();
            Activations.GeluErf(got);
            Activations.GeluErfReference(reference);
            for (int i = 0; i < n; i++)
            {
                double exact = 0.5 * x[i] * (1 + ErfExact(x[i] / Math.Sqrt(2)));
                double tol = 1.2e-7 * Math.Abs(x[i]) + 1e-6 * Math.Abs(exact);
                Assert.True(Math.Abs(got[i] - exact) <= tol, $"gelu({x[i]:R}) = {got[i]:R}, exact {exact:R}");
                Assert.True(Math.Abs(reference[i] - exact) <= tol, $"reference gelu({x[i]:R}) = {reference[i]:R}, exact {exact:R}");
            }
        }
    }

    /// <summary>Norms against exact (double) LayerNorm/RMSNorm: statistics in double and one float rounding per
    /// step leave ≲ 4 ulp, so 1e-6 relative plus 1e-6 absolute (outputs are O(1)) — the PyTorch fp32 target.
    /// Rows use an offset mean to exercise the two-pass variance.</summary>
    [Fact]
    public void NormsMatchExactNormsAndTheirReferences()
    {
        foreach (int dim in new[] { 1, 7, 16, 17, 64, 1029 })
        {
            const int rows = 5;
            var x = TestData.Random(rows * dim, dim, 3f);
            for (int i = 0; i < x.Length; i++) x[i] += 10f;
            var w = TestData.Random(dim, dim + 1, 2f);
            var b = TestData.Random(dim, dim + 2, 1f);
            const float eps = 1e-5f;
            var ln = new float[rows * dim];
            var lnRef = new float[rows * dim];
            var lnExact = new float[rows * dim];
            var rms = new float[rows * dim];
            var rmsRef = new float[rows * dim];
            var rmsExact = new float[rows * dim];
            Norms.LayerNorm(new ComputeContext(2), x, rows, dim, w, b, eps, ln);
            Norms.LayerNormReference(x, rows, dim, w, b, eps, lnRef);
            Norms.RmsNorm(new ComputeContext(2), x, rows, dim, w, eps, rms);
            Norms.RmsNormReference(x, rows, dim, w, eps, rmsRef);
            for (int r = 0; r < rows; r++)
            {
                var xr = x.AsSpan(r * dim, dim).ToArray();
                double mean = xr.Average(v => (double)v);
                double var = xr.Average(v => (v - mean) * (v - mean));
                double ms = xr.Average(v => (double)v * v);
                for (int i = 0; i < dim; i++)
                {
                    lnExact[r * dim + i] = (float)((xr[i] - mean) / Math.Sqrt(var + eps) * w[i] + b[i]);
                    rmsExact[r * dim + i] = (float)(xr[i] / Math.Sqrt(ms + eps) * w[i]);
                }
            }
            TestData.AssertClose(lnExact, ln, 1e-6, 1e-6, $"LayerNorm dim={dim}");
            TestData.AssertClose(lnRef, ln, 1e-6, 1e-6, $"LayerNorm vs reference dim={dim}");
            TestData.AssertClose(rmsExact, rms, 1e-6, 1e-6, $"RmsNorm dim={dim}");
            TestData.AssertClose(rmsRef, rms, 1e-6, 1e-6, $"RmsNorm vs reference dim={dim}");

            // In place (y aliases x) gives the same result.
            var inPlace = (float[])x.Clone();
            Norms.RmsNorm(inPlace, rows, dim, w, eps, inPlace);
            Assert.Equal(rms, inPlace);
        }
    }

    /// <summary>RoPE uses the same float operations and cos/sin values as its reference, so results are identical.</summary>
    [Fact]
    public void RopeMatchesReferenceExactly()
    {
        foreach (int d in new[] { 2, 24, 64, 128 })
        {
            var rope = new Rope(d, 10000f);
            const int rows = 9, heads = 3;
            int stride = heads * d + 4;
            int[] positions = [0, 1, 2, 577, 3, 4095, 640, 5, 17];
            var x = TestData.Random(rows * stride, d, 2f);
            var expected = (float[])x.Clone();
            rope.ApplyReference(expected, rows, stride, heads, positions);
            foreach (int threads in new[] { 1, 2 })
            {
                var got = (float[])x.Clone();
                rope.Apply(new ComputeContext(threads), got, rows, stride, heads, positions);
                Assert.Equal(expected, got);
            }
        }
    }
}
