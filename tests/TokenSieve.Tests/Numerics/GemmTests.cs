using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Numerics;

public unsafe class GemmTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        // GEMV path (M ≤ 4), odd K tails.
        { 1, 1, 1 }, { 1, 37, 19 }, { 3, 100, 33 }, { 4, 16, 8 },
        // Blocked path: M tails (not multiples of 16 or 48), N tails (not multiples of 8), K not a multiple of the
        // 192 K block and crossing it, a single full 48x8 tile, several tasks.
        { 5, 7, 3 }, { 17, 33, 9 }, { 48, 64, 8 }, { 49, 193, 17 }, { 97, 385, 130 }, { 150, 70, 260 }, { 33, 1, 5 },
    };

    /// <summary>Tolerance: both sides accumulate in float32, in different orders (vector lanes and K blocks vs a
    /// serial sum), so they may differ by a few ulps of Σ|x·w|, which for inputs in [−1,1] is ≤ K/2 on average.
    /// 1e-6·K absolute plus 1e-5 relative covers that with margin while catching any wrong or missing term
    /// (each term is ~0.25 on average).</summary>
    static void Check(float[] expected, float[] actual, int k) => TestData.AssertClose(expected, actual, 1e-6 * Math.Max(k, 4), 1e-5, "gemm");

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LinearMatchesReferenceForEveryDTypeAndThreadCount(int m, int k, int n)
    {
        var x = TestData.Random(m * k, 1);
        var wf = TestData.Random(n * k, 2);
        var bias = TestData.Random(n, 3);
        foreach (var dt in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            var w = WeightMatrix.FromFloats("w", wf, n, k, dt);
            var expected = new float[m * n];
            fixed (float* px = x, pb = bias, pe = expected)
                Gemm.Reference(px, m, k, (void*)w.Pointer, dt, n, pb, pe);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                var y = new float[m * n];
                Gemm.Linear(new ComputeContext(threads), x, m, w, bias, y);
                Check(expected, y, k);
                // The partition changes with the thread count; the sums must not.
                if (first == null) first = y;
                else Assert.Equal(first, y);
            }
        }
    }

    [Theory]
    [InlineData(5, 20, 7)]
    [InlineData(64, 64, 64)]
    [InlineData(130, 257, 3)]
    [InlineData(33, 100, 40)] // 32 rows blocked + 1 row on the matrix-vector path
    [InlineData(577, 64, 9)]
    [InlineData(20, 33, 17)]
    public void MatMulTransposedMatchesReference(int m, int k, int n)
    {
        var a = TestData.Random(m * k, 4);
        var b = TestData.Random(n * k, 5);
        var expected = new float[m * n];
        fixed (float* pa = a, pb = b, pe = expected)
            Gemm.Reference(pa, m, k, pb, DType.F32, n, null, pe);
        var c = new float[m * n];
        Gemm.MatMulTransposed(new ComputeContext(2), a, m, k, b, n, c);
        Check(expected, c, k);
    }

    [Fact]
    public void LinearWithoutBiasAndWithEmptyInput()
    {
        var x = TestData.Random(9 * 5, 6);
        var w = WeightMatrix.FromFloats("w", TestData.Random(11 * 5, 7), 11, 5);
        var y = new float[9 * 11];
        Gemm.Linear(ComputeContext.Default, x, 9, w, default, y);
        var expected = new float[9 * 11];
        fixed (float* px = x, pe = expected)
            Gemm.Reference(px, 9, 5, (void*)w.Pointer, DType.F32, 11, null, pe);
        Check(expected, y, 5);
        Gemm.Linear(ComputeContext.Default, default, 0, w, default, default);
    }

    [Fact]
    public void ShapeErrorsNameTheWeight()
    {
        var w = WeightMatrix.FromFloats("proj.weight", new float[6], 2, 3);
        var e = Assert.Throws<ArgumentException>(() => Gemm.Linear(ComputeContext.Default, new float[5], 2, w, default, new float[4]));
        Assert.Contains("proj.weight", e.Message);
    }

    /// <summary>The vector F16/BF16 widening must equal the scalar conversion bit for bit, specials included.</summary>
    [Fact]
    public void WeightConversionIsExactForEveryHalfAndBFloat16Pattern()
    {
        var bits = new ushort[65536 + 5];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var got = new float[bits.Length];
        foreach (var dt in new[] { DType.F16, DType.BF16 })
            fixed (ushort* pb = bits)
            fixed (float* pg = got)
            {
                WeightConversion.ToSingle(pb, dt, pg, bits.Length);
                for (int i = 0; i < bits.Length; i++)
                {
                    float want = WeightConversion.ToSingleReference(pb, dt, i);
                    if (float.IsNaN(want)) Assert.True(float.IsNaN(got[i]), $"{dt} 0x{i:X4}");
                    else Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(got[i]));
                }
            }
    }

    /// <summary>The decode GEMV's F16 path (x pre-scaled by 2^112, weights as h·2^-112 from three bit
    /// operations) against the general conversion: every finite half pattern (subnormals, ±0) is read as
    /// exactly h·2^-112, and with |x| &lt; 2^12 the dot product is bit-identical to DotHalf's (same products,
    /// same sums, all scaled by an exact power of two) for lengths with and without vector tails.</summary>
    [Fact]
    public void ScaledHalfDotIsBitIdenticalToTheGeneralConversion()
    {
        // every finite half pattern, one at a time against x = 2^112 (so the dot is the weight itself)
        var one = new float[1];
        for (int h = 0; h < 65536; h++)
        {
            ushort bits = (ushort)h;
            if (((h >> 10) & 0x1F) == 0x1F) continue; // Inf/NaN: documented as read finite
            one[0] = 5.192296858534828e33f;
            float want = (float)BitConverter.UInt16BitsToHalf(bits) + 0f; // the dot's 0 + w (so −0 reads +0)
            fixed (float* px = one)
                Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(Gemm.DotHalfScaled(px, &bits, 1)));
        }
        var rng = new Random(7);
        foreach (int k in new[] { 1, 15, 16, 17, 63, 64, 65, 200, 2048, 5632 + 7 })
        {
            var w = new ushort[k];
            var x = new float[k];
            var xs = new float[k];
            for (int i = 0; i < k; i++)
            {
                // a spread of magnitudes incl. subnormal halves and signed zeros; x up to ±3000
                w[i] = (ushort)(rng.Next(8) == 0 ? rng.Next(0, 0x400) | (rng.Next(2) << 15) : BitConverter.HalfToUInt16Bits((Half)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-12, 6)))));
                x[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 13)));
            }
            fixed (ushort* pw = w)
            fixed (float* px = x, pxs = xs)
            {
                Assert.True(Gemm.ScaleForHalf(px, pxs, k, out float unscale));
                Assert.Equal(1f, unscale);
                float want = Gemm.DotHalf(px, pw, k), got = Gemm.DotHalfScaled(pxs, pw, k) * unscale;
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got), $"k={k}: {want} vs {got}");
                if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported)
                {
                    // two rows in one pass: each bit-identical to the one-row kernel (second row: w reversed)
                    var w2 = w.Reverse().ToArray();
                    fixed (ushort* pw2 = w2)
                    {
                        Gemm.DotHalfScaled2(pxs, pw, pw2, k, out float d0, out float d1);
                        Assert.Equal(BitConverter.SingleToInt32Bits(Gemm.DotHalfScaled(pxs, pw, k)), BitConverter.SingleToInt32Bits(d0));
                        Assert.Equal(BitConverter.SingleToInt32Bits(Gemm.DotHalfScaled(pxs, pw2, k)), BitConverter.SingleToInt32Bits(d1));
                    }
                }

                // large activations: scaled down by 2^t first, still within float rounding of the general path
                for (int i = 0; i < k; i++) px[i] *= 1e6f;
                px[0] = 3e7f;
                Assert.True(Gemm.ScaleForHalf(px, pxs, k, out unscale));
                Assert.True(unscale > 1f);
                want = Gemm.DotHalf(px, pw, k); got = Gemm.DotHalfScaled(pxs, pw, k) * unscale;
                Assert.Equal(want, got, Math.Abs(want) * 1e-6 + 1e-3);

                // Inf/NaN in x: no scaled path (the caller falls back to DotHalf, which propagates them)
                px[0] = float.NaN;
                Assert.False(Gemm.ScaleForHalf(px, pxs, k, out _));
            }
        }
    }

    /// <summary>The decode GEMV on F16 weights (pairs of rows half a task apart, odd tasks, bias, M up to 4)
    /// gives every output exactly as the one-row general-conversion dot product plus bias.</summary>
    [Theory]
    [InlineData(1, 64, 37)]
    [InlineData(1, 200, 64)]
    [InlineData(3, 2048, 33)]
    [InlineData(4, 130, 95)]
    public void HalfGemvIsBitIdenticalToTheOneRowDot(int m, int k, int n)
    {
        var rng = new Random(m * 1000 + n);
        var wf = Enumerable.Range(0, n * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var x = Enumerable.Range(0, m * k).Select(_ => (float)((rng.NextDouble() - 0.5) * 8)).ToArray();
        var bias = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var w = WeightMatrix.FromFloats("w", wf, n, k, DType.F16);
        var y = new float[m * n];
        Gemm.Linear(new ComputeContext(2), x, m, w, bias, y);
        fixed (float* px = x)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float want = Gemm.DotHalf(px + i * k, (ushort*)w.Pointer + (long)j * k, k) + bias[j];
                    Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(y[i * n + j]), $"row {i}, column {j}: {want} vs {y[i * n + j]}");
                }
    }
}
