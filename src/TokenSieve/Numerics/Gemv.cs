using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Numerics;

/// <summary>The decode path of <see cref="Gemm"/>: y = x·Wᵀ for M ≤ <see cref="GemvMaxRows"/>, bound by
/// reading W once, and the dot-product kernels it (and a few other callers) use per stored dtype.</summary>
internal static unsafe partial class Gemm
{
    [ThreadStatic] static NativeScratch? t_scaledX;

    /// <summary>Rows of W per GEMV task: enough tasks to balance, each streaming a contiguous slab of W.</summary>
    const int GemvTaskRows = 32;

    static void Gemv(ComputeContext ctx, float* x, int m, int k, void* w, DType wType, int n, float* bias, float* y)
    {
        int tasks = (n + GemvTaskRows - 1) / GemvTaskRows;
        int elementSize = DTypes.SizeOf(wType);
        // F16: each row of x is copied once, multiplied by 2^(112-t), so the weights need only three
        // operations per 16 to become floats (DotHalfScaled); the dot products come back times 2^-t.
        float* xs = null;
        float* unscale = stackalloc float[m];
        if (wType == DType.F16)
        {
            xs = (t_scaledX ??= new NativeScratch()).Get((long)m * k);
            for (int i = 0; i < m && xs != null; i++)
                if (!ScaleForHalf(x + (long)i * k, xs + (long)i * k, k, out unscale[i])) xs = null;
        }
        ctx.For(tasks, t =>
        {
            int j0 = t * GemvTaskRows, j1 = Math.Min(n, j0 + GemvTaskRows);
            if (xs != null && Avx512F.IsSupported)
            {
                // rows j and j+h (half the task apart) in one pass: two weight streams per thread keep more
                // misses in flight than one (adjacent rows were slower); the same sums as DotHalfScaled
                int h = (j1 - j0) / 2;
                for (int j = j0; j < j0 + h; j++)
                {
                    ushort* r0 = (ushort*)((byte*)w + (long)j * k * elementSize), r1 = r0 + (long)h * k;
                    float b0 = bias == null ? 0f : bias[j], b1 = bias == null ? 0f : bias[j + h];
                    for (int i = 0; i < m; i++)
                    {
                        DotHalfScaled2(xs + (long)i * k, r0, r1, k, out float d0, out float d1);
                        y[(long)i * n + j] = d0 * unscale[i] + b0;
                        y[(long)i * n + j + h] = d1 * unscale[i] + b1;
                    }
                }
                j0 += 2 * h; // an odd last row falls through to the loop below
            }
            for (int j = j0; j < j1; j++)
            {
                void* row = (byte*)w + (long)j * k * elementSize;
                float b = bias == null ? 0f : bias[j];
                for (int i = 0; i < m; i++)
                {
                    float* xi = x + (long)i * k;
                    float dot = wType switch
                    {
                        DType.F32 => Dot(xi, (float*)row, k),
                        DType.F16 when xs != null => DotHalfScaled(xs + (long)i * k, (ushort*)row, k) * unscale[i],
                        DType.F16 => DotHalf(xi, (ushort*)row, k),
                        _ => DotBFloat16(xi, (ushort*)row, k),
                    };
                    y[(long)i * n + j] = dot + b;
                }
            }
        });
    }

    /// <summary>xs = x·2^(112−t) for <see cref="DotHalfScaled"/>, t = 0 unless max|x| ≥ 2^12 (then t keeps
    /// max|xs| ≤ 2^124 so neither xs nor the sums overflow); unscale = 2^t. Power-of-two scaling is exact,
    /// so with t = 0 every product and sum rounds exactly as <see cref="DotHalf"/>'s: the results are
    /// bit-identical (tested). False (use DotHalf) where x holds Inf or NaN.</summary>
    internal static bool ScaleForHalf(float* x, float* xs, int k, out float unscale)
    {
        float maxAbs = TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(x, k));
        unscale = 1f;
        if (!float.IsFinite(maxAbs)) return false;
        int t = Math.Max(0, ((BitConverter.SingleToInt32Bits(Math.Abs(maxAbs)) >> 23) & 0xFF) - 126 - 12);
        TensorPrimitives.Multiply(new ReadOnlySpan<float>(x, k), BitConverter.Int32BitsToSingle((127 + 112 - t) << 23), new Span<float>(xs, k));
        unscale = BitConverter.Int32BitsToSingle((127 + t) << 23);
        return true;
    }

    /// <summary><see cref="DotHalfScaled"/> of two rows in one pass over x: each row's sums in exactly
    /// DotHalfScaled's order (four accumulators over 64, a 16-wide tail into the first, scalar rest), so
    /// the results are bit-identical to it (tested). AVX-512 only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DotHalfScaled2(float* xs, ushort* w0, ushort* w1, int length, out float dot0, out float dot1)
    {
        var mask = Vector512.Create(unchecked((int)0x8FFFFFFF));
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        int i = 0;
        for (; i <= length - 64; i += 64)
        {
            Sse.Prefetch0((byte*)(w0 + i) + GemvPrefetchBytes);
            Sse.Prefetch0((byte*)(w0 + i) + GemvPrefetchBytes + 64);
            Sse.Prefetch0((byte*)(w1 + i) + GemvPrefetchBytes);
            Sse.Prefetch0((byte*)(w1 + i) + GemvPrefetchBytes + 64);
            var x0 = Vector512.Load(xs + i);
            a0 = Avx512F.FusedMultiplyAdd(x0, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w0 + i))) << 13 & mask).AsSingle(), a0);
            b0 = Avx512F.FusedMultiplyAdd(x0, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w1 + i))) << 13 & mask).AsSingle(), b0);
            var x1 = Vector512.Load(xs + i + 16);
            a1 = Avx512F.FusedMultiplyAdd(x1, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w0 + i + 16))) << 13 & mask).AsSingle(), a1);
            b1 = Avx512F.FusedMultiplyAdd(x1, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w1 + i + 16))) << 13 & mask).AsSingle(), b1);
            var x2 = Vector512.Load(xs + i + 32);
            a2 = Avx512F.FusedMultiplyAdd(x2, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w0 + i + 32))) << 13 & mask).AsSingle(), a2);
            b2 = Avx512F.FusedMultiplyAdd(x2, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w1 + i + 32))) << 13 & mask).AsSingle(), b2);
            var x3 = Vector512.Load(xs + i + 48);
            a3 = Avx512F.FusedMultiplyAdd(x3, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w0 + i + 48))) << 13 & mask).AsSingle(), a3);
            b3 = Avx512F.FusedMultiplyAdd(x3, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w1 + i + 48))) << 13 & mask).AsSingle(), b3);
        }
        for (; i <= length - 16; i += 16)
        {
            var x = Vector512.Load(xs + i);
            a0 = Avx512F.FusedMultiplyAdd(x, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w0 + i))) << 13 & mask).AsSingle(), a0);
            b0 = Avx512F.FusedMultiplyAdd(x, (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w1 + i))) << 13 & mask).AsSingle(), b0);
        }
        float s0 = Vector512.Sum((a0 + a1) + (a2 + a3)), s1 = Vector512.Sum((b0 + b1) + (b2 + b3));
        for (; i < length; i++)
        {
            s0 = MathF.FusedMultiplyAdd(xs[i], BitConverter.Int32BitsToSingle(((short)w0[i] << 13) & unchecked((int)0x8FFFFFFF)), s0);
            s1 = MathF.FusedMultiplyAdd(xs[i], BitConverter.Int32BitsToSingle(((short)w1[i] << 13) & unchecked((int)0x8FFFFFFF)), s1);
        }
        dot0 = s0;
        dot1 = s1;
    }

    /// <summary>Σ xs[i]·h[i]·2^-112 for F16 h: a half's bits, sign-extended to 32 and shifted left by 13,
    /// with the three sign copies above the exponent cleared, are the float h·2^-112 — exact for every
    /// finite half, subnormals included (sign-extend, shift, and: three operations per 16 weights where
    /// the general conversion takes ten; 13 % faster decode in place on tiny-1b F16). Inf/NaN weights
    /// read as finite values 2^16 and up (a checkpoint holding them is broken anyway); prefill converts
    /// them exactly.</summary>
    internal static float DotHalfScaled(float* xs, ushort* w, int length)
    {
        int i = 0;
        float sum = 0f;
        if (Avx512F.IsSupported)
        {
            var mask = Vector512.Create(unchecked((int)0x8FFFFFFF));
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= length - 64; i += 64)
            {
                Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes);
                Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes + 64);
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(xs + i), (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w + i))) << 13 & mask).AsSingle(), s0);
                s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(xs + i + 16), (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w + i + 16))) << 13 & mask).AsSingle(), s1);
                s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(xs + i + 32), (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w + i + 32))) << 13 & mask).AsSingle(), s2);
                s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(xs + i + 48), (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w + i + 48))) << 13 & mask).AsSingle(), s3);
            }
            for (; i <= length - 16; i += 16)
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(xs + i), (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)(w + i))) << 13 & mask).AsSingle(), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Avx2.IsSupported && Fma.IsSupported)
        {
            var mask = Vector256.Create(unchecked((int)0x8FFFFFFF));
            Vector256<float> s0 = default, s1 = default;
            for (; i <= length - 16; i += 16)
            {
                if ((i & 31) == 0) Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes);
                s0 = Fma.MultiplyAdd(Vector256.Load(xs + i), (Avx2.ConvertToVector256Int32((short*)(w + i)) << 13 & mask).AsSingle(), s0);
                s1 = Fma.MultiplyAdd(Vector256.Load(xs + i + 8), (Avx2.ConvertToVector256Int32((short*)(w + i + 8)) << 13 & mask).AsSingle(), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < length; i++)
            sum = MathF.FusedMultiplyAdd(xs[i], BitConverter.Int32BitsToSingle(((short)w[i] << 13) & unchecked((int)0x8FFFFFFF)), sum);
        return sum;
    }

    /// <summary>Bytes ahead of the read position that the decode GEMV prefetches, in each weight stream (one per
    /// row being read; the F16 path reads two rows half a task apart); on its own the hardware prefetcher keeps too few lines in flight once each
    /// byte costs a few instructions (F16, 2 threads on a Xeon VM: 10.7 → 16.9 GB/s at 4 KiB; 1–16 KiB measured).</summary>
    internal const int GemvPrefetchBytes = 4096;

    /// <summary>Σ x[i]·(float)w[i] for F16 w, widened in registers (decode streams W once; no staging buffer).</summary>
    internal static float DotHalf(float* x, ushort* w, int length) => DotWidened<HalfWidening>(x, w, length);

    /// <summary>Σ x[i]·(float)w[i] for BF16 w, widened in registers.</summary>
    internal static float DotBFloat16(float* x, ushort* w, int length) => DotWidened<BFloat16Widening>(x, w, length);

    /// <summary>A 16-bit weight format's exact widening to float32, at each vector width.</summary>
    interface IWidening
    {
        static abstract Vector512<float> Widen(Vector256<ushort> w);
        static abstract Vector256<float> Widen(Vector128<ushort> w);
        static abstract float Widen(ushort w);
    }

    struct HalfWidening : IWidening
    {
        public static Vector512<float> Widen(Vector256<ushort> w) => WeightConversion.HalfToSingle512(w);
        public static Vector256<float> Widen(Vector128<ushort> w) => WeightConversion.HalfToSingle256(w);
        public static float Widen(ushort w) => (float)BitConverter.UInt16BitsToHalf(w);
    }

    struct BFloat16Widening : IWidening
    {
        public static Vector512<float> Widen(Vector256<ushort> w) => WeightConversion.BFloat16ToSingle512(w);
        public static Vector256<float> Widen(Vector128<ushort> w) => WeightConversion.BFloat16ToSingle256(w);
        public static float Widen(ushort w) => BFloat16.ToSingle(w);
    }

    /// <summary>The F16/BF16 dot product: four accumulators over 64-element chunks, a 16-wide tail into the
    /// first, the scalar rest (AVX2: two accumulators over 16); the order is fixed for a given length.</summary>
    static float DotWidened<T>(float* x, ushort* w, int length) where T : struct, IWidening
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= length - 64; i += 64)
            {
                if (Sse.IsSupported)
                {
                    Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes);
                    Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes + 64);
                }
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), T.Widen(Vector256.Load(w + i)), s0);
                s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), T.Widen(Vector256.Load(w + i + 16)), s1);
                s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), T.Widen(Vector256.Load(w + i + 32)), s2);
                s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), T.Widen(Vector256.Load(w + i + 48)), s3);
            }
            for (; i <= length - 16; i += 16)
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), T.Widen(Vector256.Load(w + i)), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i <= length - 16; i += 16)
            {
                if ((i & 31) == 0) Sse.Prefetch0((byte*)(w + i) + GemvPrefetchBytes);
                s0 = Fma.MultiplyAdd(Vector256.Load(x + i), T.Widen(Vector128.Load(w + i)), s0);
                s1 = Fma.MultiplyAdd(Vector256.Load(x + i + 8), T.Widen(Vector128.Load(w + i + 8)), s1);
            }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(x[i], T.Widen(w[i]), sum);
        return sum;
    }

    /// <summary>Σ a[i]·b[i] with four independent vector accumulators (fixed order for a given length).</summary>
    internal static float Dot(float* a, float* b, int length)
    {
        int i = 0;
        float sum;
        if (Vector512.IsHardwareAccelerated && length >= 16)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= length - 64; i += 64)
            {
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
                s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32), s2);
                s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48), s3);
            }
            for (; i <= length - 16; i += 16)
                s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else if (Vector256.IsHardwareAccelerated && length >= 8)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i <= length - 32; i += 32)
            {
                s0 = Fma.MultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Fma.MultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
                s2 = Fma.MultiplyAdd(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16), s2);
                s3 = Fma.MultiplyAdd(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24), s3);
            }
            for (; i <= length - 8; i += 8)
                s0 = Fma.MultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        else sum = 0f;
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
        return sum;
    }
}
