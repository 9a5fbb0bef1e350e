using System.Buffers.Binary;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Numerics;

/// <summary>The GGML block formats against hand-built blocks read from the GGUF specification's layouts, the fast
/// dequantisation against the scalar reference, and the quantised GEMV/GEMM against scalar references.</summary>
public unsafe class QuantTests
{
    static readonly DType[] BlockTypes = [DType.Q8_0, DType.Q4_0, DType.Q4_K, DType.Q6_K];

    static ushort Half(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    [Fact]
    public void Q8_0_block_is_a_half_scale_then_32_signed_bytes()
    {
        var block = new byte[34];
        BinaryPrimitives.WriteUInt16LittleEndian(block, Half(0.25f));
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j - 16);
        fixed (byte* p = block)
            for (int j = 0; j < 32; j++) Assert.Equal(0.25f * (j - 16), QuantFormats.DequantizeElementReference(p, DType.Q8_0, j));
    }

    [Fact]
    public void Q4_0_low_nibbles_hold_the_first_half_of_the_block()
    {
        var block = new byte[18];
        BinaryPrimitives.WriteUInt16LittleEndian(block, Half(0.5f));
        block[2] = 0x3A; // element 0: 0xA, element 16: 0x3
        block[17] = 0xF0; // element 15: 0x0, element 31: 0xF
        fixed (byte* p = block)
        {
            Assert.Equal(0.5f * (0xA - 8), QuantFormats.DequantizeElementReference(p, DType.Q4_0, 0));
            Assert.Equal(0.5f * (0x3 - 8), QuantFormats.DequantizeElementReference(p, DType.Q4_0, 16));
            Assert.Equal(0.5f * (0x0 - 8), QuantFormats.DequantizeElementReference(p, DType.Q4_0, 15));
            Assert.Equal(0.5f * (0xF - 8), QuantFormats.DequantizeElementReference(p, DType.Q4_0, 31));
        }
    }

    [Fact]
    public void Q4_K_sub_block_scales_and_mins_unpack_from_twelve_bytes()
    {
        var block = new byte[144];
        BinaryPrimitives.WriteUInt16LittleEndian(block, Half(0.5f));       // d
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(2), Half(0.25f)); // dmin
        // Sub-block 1: scale 5, min 3 in the 6-bit fields of bytes 1 and 5.
        block[4 + 1] = 5;
        block[4 + 5] = 3;
        // Sub-block 6: scale 0b10_1001 = 41 (low 4 bits in byte 10's low nibble, top 2 bits in byte 2's top bits),
        // min 0b01_0110 = 22 (low 4 bits in byte 10's high nibble, top 2 bits in byte 6's top bits).
        block[4 + 10] = 0x69;
        block[4 + 2] |= 0b10 << 6;
        block[4 + 6] |= 0b01 << 6;
        // Sub-block 1 is the high nibbles of qs[0..32); sub-block 6 the low nibbles of qs[96..128).
        block[16 + 7] = 0x90; // sub-block 1, element 7 → q = 9
        block[16 + 96 + 4] = 0x0C; // sub-block 6, element 4 → q = 12
        fixed (byte* p = block)
        {
            Assert.Equal(0.5f * 5 * 9 - 0.25f * 3, QuantFormats.DequantizeElementReference(p, DType.Q4_K, 32 + 7));
            Assert.Equal(0.5f * 41 * 12 - 0.25f * 22, QuantFormats.DequantizeElementReference(p, DType.Q4_K, 6 * 32 + 4));
        }
    }

    [Fact]
    public void Q6_K_values_take_four_low_bits_from_ql_and_two_from_qh()
    {
        var block = new byte[210];
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(208), Half(0.125f));
        for (int s = 0; s < 16; s++) block[192 + s] = (byte)(sbyte)(s - 8);
        // Second half (h = 1), l = 3: elements 128+3, +35, +67, +99.
        block[64 + 3] = 0x5A;       // low bits: element 131 → 0xA, element 195 → 0x5
        block[64 + 32 + 3] = 0xC1;  // element 163 → 0x1, element 227 → 0xC
        block[128 + 32 + 3] = 0b11_10_01_00; // high bits: 131 → 0, 163 → 1, 195 → 2, 227 → 3
        fixed (byte* p = block)
        {
            float d = 0.125f;
            Assert.Equal(d * (131 / 16 - 8) * (0xA - 32), QuantFormats.DequantizeElementReference(p, DType.Q6_K, 131));
            Assert.Equal(d * (163 / 16 - 8) * ((0x1 | 1 << 4) - 32), QuantFormats.DequantizeElementReference(p, DType.Q6_K, 163));
            Assert.Equal(d * (195 / 16 - 8) * ((0x5 | 2 << 4) - 32), QuantFormats.DequantizeElementReference(p, DType.Q6_K, 195));
            Assert.Equal(d * (227 / 16 - 8) * ((0xC | 3 << 4) - 32), QuantFormats.DequantizeElementReference(p, DType.Q6_K, 227));
        }
    }

    [Fact]
    public void Quantisers_round_as_ggml_reference_does()
    {
        // Q8_0: d = 31/127, q = round(j·127/31) half away from zero.
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j;
        var q8 = new byte[34];
        QuantFormats.QuantizeReference(x, DType.Q8_0, q8);
        Assert.Equal(Half(31f / 127f), BinaryPrimitives.ReadUInt16LittleEndian(q8));
        for (int j = 0; j < 32; j++) Assert.Equal((sbyte)MathF.Round(j * (1f / (31f / 127f)), MidpointRounding.AwayFromZero), (sbyte)q8[2 + j]);

        // Q4_0: the largest magnitude (−4, negative) gives d = −4/−8 = 0.5 and maps to nibble 0; with id = 2,
        // 3.9 → trunc(3.9·2 + 8.5) = 16, clamped to 15.
        var y = new float[32];
        y[5] = -4f;
        y[6] = 3.9f;
        y[20] = 1.2f; // 2.4 + 8.5 = 10.9 → 10
        var q4 = new byte[18];
        QuantFormats.QuantizeReference(y, DType.Q4_0, q4);
        Assert.Equal(Half(0.5f), BinaryPrimitives.ReadUInt16LittleEndian(q4));
        Assert.Equal(0, q4[2 + 5] & 15);
        Assert.Equal(15, q4[2 + 6] & 15);
        Assert.Equal(10, q4[2 + 4] >> 4);
        Assert.Equal(8, q4[2 + 0] & 15); // zero → 8
    }

    /// <summary>Round trips: Q8_0 within half a step, Q4_0 within one step (the positive side clamps at 7·d when the
    /// largest magnitude is negative), each plus the F16 rounding of d (≤ 2⁻¹¹·d per unit of q, |q| ≤ 127: 0.07 step);
    /// the K-quants' simple fits within a fraction of the range.</summary>
    [Theory]
    [InlineData(DType.Q8_0, 0.5, 0.0)]
    [InlineData(DType.Q4_0, 1.0, 0.0)]
    [InlineData(DType.Q4_K, 0.0, 0.06)]
    [InlineData(DType.Q6_K, 0.0, 0.02)]
    public void Quantise_dequantise_round_trip_is_within_the_step(DType type, double steps, double ofRange)
    {
        var x = TestData.Random(1024, 11);
        x[100] = 40f; // an outlier only moves its own block's scale
        var bytes = new byte[DTypes.ByteCount(type, x.Length)];
        QuantFormats.QuantizeReference(x, type, bytes);
        int be = DTypes.BlockElements(type);
        fixed (byte* p = bytes)
            for (int i = 0; i < x.Length; i++)
            {
                float amax = 0f;
                for (int j = i / be * be; j < i / be * be + be; j++) amax = MathF.Max(amax, MathF.Abs(x[j]));
                double step = type == DType.Q8_0 ? amax / 127.0 : amax / 8.0;
                double tol = (steps > 0 ? (steps + 0.07) * step : 0) + ofRange * 2 * amax + 1e-7;
                Assert.True(Math.Abs(QuantFormats.DequantizeElementReference(p, type, i) - x[i]) <= tol, $"{type} element {i}");
            }
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    [InlineData(DType.Q4_K)]
    [InlineData(DType.Q6_K)]
    public void Fast_dequantisation_is_bit_exact_with_the_reference_on_random_blocks(DType type)
    {
        int be = DTypes.BlockElements(type), bb = DTypes.BlockBytes(type), blocks = 1024 / be;
        var bytes = new byte[blocks * bb];
        new Random(3).NextBytes(bytes);
        // Finite scales: overwrite each half-float field with a modest value (random bytes may spell Inf/NaN).
        for (int b = 0; b < blocks; b++)
        {
            var block = bytes.AsSpan(b * bb, bb);
            switch (type)
            {
                case DType.Q8_0 or DType.Q4_0: BinaryPrimitives.WriteUInt16LittleEndian(block, Half(0.01f * (b + 1))); break;
                case DType.Q4_K:
                    BinaryPrimitives.WriteUInt16LittleEndian(block, Half(0.003f * (b + 1)));
                    BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Half(-0.002f * b));
                    break;
                case DType.Q6_K: BinaryPrimitives.WriteUInt16LittleEndian(block[208..], Half(0.0007f * (b + 1))); break;
            }
        }
        var fast = new float[blocks * be];
        fixed (byte* p = bytes)
        fixed (float* f = fast)
        {
            QuantFormats.DequantizeRow(p, type, 0, blocks * be, f);
            for (int i = 0; i < fast.Length; i++) Assert.Equal(QuantFormats.DequantizeElementReference(p, type, i), fast[i]);
            // A slice starting inside the row (the GEMM's K blocks of 128).
            var part = new float[256];
            fixed (float* q = part) QuantFormats.DequantizeRow(p, type, 512, 256, q);
            for (int i = 0; i < 256; i++) Assert.Equal(fast[512 + i], part[i]);
        }
    }

    public static TheoryData<int, int, int> GemvShapes => new()
    {
        // M ≤ 4 (decode); K with an odd block count, with 9 blocks (one past the 8-scale gather), a real width; N tails.
        { 1, 32, 1 }, { 1, 96, 7 }, { 2, 288, 33 }, { 3, 64, 40 }, { 4, 2048, 9 }, { 1, 1024, 65 },
    };

    /// <summary>The integer GEMV against its scalar reference (same quantised activations, exact integer block sums):
    /// they differ only in the float32 order of the per-block terms, so 1e-5 of Σ|terms| bounds the difference.</summary>
    [Theory]
    [MemberData(nameof(GemvShapes))]
    public void Integer_gemv_matches_its_scalar_reference(int m, int k, int n)
    {
        var x = TestData.Random(m * k, 21);
        var wf = TestData.Random(n * k, 22);
        var bias = TestData.Random(n, 23);
        foreach (var type in new[] { DType.Q8_0, DType.Q4_0 })
        {
            var w = WeightMatrix.FromFloats("w", wf, n, k, type);
            var expected = new float[m * n];
            fixed (float* px = x, pb = bias, pe = expected)
                QuantGemm.ReferenceInteger(px, m, k, (byte*)w.Pointer, type, n, pb, pe);
            float[]? first = null;
            foreach (int threads in new[] { 1, 2 })
            {
                var y = new float[m * n];
                Gemm.Linear(new ComputeContext(threads), x, m, w, bias, y);
                TestData.AssertClose(expected, y, 1e-5 * k, 1e-5, $"{type} gemv");
                if (first == null) first = y;
                else Assert.Equal(first, y);
            }
        }
    }

    /// <summary>Against float32 activations times the dequantised weights: the only difference is the activations'
    /// int8 rounding, at most half a step d_x = max|x_block|/127 per element, so |error| ≤ Σ_k |w_k|·d_x/2.</summary>
    [Fact]
    public void Integer_gemv_error_is_bounded_by_the_activation_rounding()
    {
        int m = 2, k = 512, n = 24;
        var x = TestData.Random(m * k, 31);
        var wf = TestData.Random(n * k, 32);
        foreach (var type in new[] { DType.Q8_0, DType.Q4_0 })
        {
            var w = WeightMatrix.FromFloats("w", wf, n, k, type);
            var wd = w.ToFloats();
            var y = new float[m * n];
            Gemm.Linear(ComputeContext.SingleThread, x, m, w, default, y);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double exact = 0, bound = 1e-4;
                    for (int b = 0; b < k / 32; b++)
                    {
                        double dx = 0;
                        for (int e = 0; e < 32; e++) dx = Math.Max(dx, Math.Abs(x[i * k + b * 32 + e]) / 127);
                        for (int e = 0; e < 32; e++)
                        {
                            exact += (double)x[i * k + b * 32 + e] * wd[j * k + b * 32 + e];
                            bound += Math.Abs(wd[j * k + b * 32 + e]) * dx / 2;
                        }
                    }
                    Assert.True(Math.Abs(y[i * n + j] - exact) <= bound, $"{type} [{i},{j}]: {y[i * n + j]} vs {exact}, bound {bound}");
                }
        }
    }

    public static TheoryData<DType, int, int, int> WidenedShapes => new()
    {
        { DType.Q4_K, 1, 256, 5 }, { DType.Q6_K, 3, 512, 17 }, { DType.Q4_K, 37, 768, 20 }, { DType.Q6_K, 50, 256, 9 },
        { DType.Q8_0, 5, 96, 13 }, { DType.Q4_0, 49, 416, 17 }, { DType.Q8_0, 97, 160, 130 },
    };

    /// <summary>Prefill (M &gt; 4) and the K-quants' decode widen weight tiles to float32 and run the float32 kernels:
    /// the same tolerance as the float GEMM tests against the scalar reference over the dequantised weights.</summary>
    [Theory]
    [MemberData(nameof(WidenedShapes))]
    public void Widened_paths_match_the_float_reference(DType type, int m, int k, int n)
    {
        var x = TestData.Random(m * k, 41);
        var w = WeightMatrix.FromFloats("w", TestData.Random(n * k, 42), n, k, type);
        var bias = TestData.Random(n, 43);
        var expected = new float[m * n];
        fixed (float* px = x, pb = bias, pe = expected)
            Gemm.Reference(px, m, k, (void*)w.Pointer, type, n, pb, pe);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var y = new float[m * n];
            Gemm.Linear(new ComputeContext(threads), x, m, w, bias, y);
            TestData.AssertClose(expected, y, 1e-6 * k, 1e-5, $"{type} {m}x{k}x{n}");
            if (first == null) first = y;
            else Assert.Equal(first, y);
        }
    }

    [Fact]
    public void Rows_read_back_dequantised_and_odd_widths_are_refused()
    {
        var wf = TestData.Random(3 * 64, 51);
        var w = WeightMatrix.FromFloats("w", wf, 3, 64, DType.Q8_0);
        Assert.Equal(3 * 2 * 34, w.ByteLength);
        var row = new float[64];
        w.ReadRow(2, row);
        fixed (byte* p = new ReadOnlySpan<byte>((void*)w.Pointer, (int)w.ByteLength))
            for (int j = 0; j < 64; j++) Assert.Equal(QuantFormats.DequantizeElementReference(p, DType.Q8_0, 128 + j), row[j]);
        Assert.Throws<ArgumentException>(() => WeightMatrix.FromFloats("odd", new float[40], 1, 40, DType.Q4_0));
        Assert.Throws<ArgumentException>(() => WeightMatrix.FromFloats("odd", new float[128], 1, 128, DType.Q4_K));
    }
}
