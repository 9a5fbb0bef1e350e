using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenSieve.Numerics;

namespace TokenSieve.Bench.Decode;

/// <summary>Scratch experiments on F16 GEMV variants (not a benchmark table).</summary>
public static unsafe class GemvExperiment
{
    public static int Run(string[] args)
    {
        int k = 2048, n = 5632;
        var wf = KernelCases.Random((long)n * k, 2);
        var x = KernelCases.Random(k, 1);
        var w = WeightMatrix.FromFloats("w", wf, n, k, DType.F16);
        long bytes = w.ByteLength;
        int copies = (int)((1L << 30) / bytes);
        var ws = new byte*[copies];
        for (int c = 0; c < copies; c++)
        {
            ws[c] = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            Buffer.MemoryCopy((void*)w.Pointer, ws[c], bytes, bytes);
        }
        var y = new float[n];
        var yref = new float[n];
        fixed (float* px = x)
        {
            float* xp = px;
            Variant(0, ws[0], k, n, xp, yref, 0, n, 0);
            foreach (int threads in new[] { 1, 2 })
            {
                var ctx = new ComputeContext(threads);
                foreach (var (v, dist) in new[] { (0, 0), (1, 4096), (1, 8192), (1, 16384), (2, 4096), (2, 8192), (2, 16384) })
                {
                    Variant(v, ws[0], k, n, xp, y, 0, n, dist);
                    bool same = y.AsSpan().SequenceEqual(yref);
                    var times = new List<double>();
                    int call = 0;
                    for (int r = 0; r < 40; r++)
                    {
                        byte* wp = ws[call++ % copies];
                        long t0 = Stopwatch.GetTimestamp();
                        ctx.For((n + 31) / 32, t => Variant(v, wp, k, n, xp, y, t * 32, Math.Min(n, t * 32 + 32), dist));
                        times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                    times.Sort();
                    double med = times[times.Count / 2];
                    Console.WriteLine($"threads {threads} variant {v} prefetch {dist}: median {med:F3} ms, {bytes / med / 1e6:F1} GB/s (bit-identical {same})");
                }
            }
        }
        return 0;
    }

    internal static void Variant(int v, byte* w, int k, int n, float* x, float[] y, int j0, int j1, int dist)
    {
        fixed (float* py = y)
            for (int j = j0; j < j1; j++)
            {
                ushort* row = (ushort*)(w + (long)j * k * 2);
                py[j] = v switch { 0 => Gemm.DotHalf(x, row, k), 1 => DotHalfPrefetch(x, row, k, dist), 3 => DotHalfFinite(x, row, k, dist), _ => DotHalfTernary(x, row, k, dist) };
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotHalfPrefetch(float* x, ushort* w, int length, int dist)
    {
        int i = 0;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; i <= length - 64; i += 64)
        {
            Sse.Prefetch0((byte*)(w + i) + dist);
            Sse.Prefetch0((byte*)(w + i) + dist + 64);
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), WeightConversion.HalfToSingle512(Vector256.Load(w + i)), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 16)), s1);
            s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 32)), s2);
            s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 48)), s3);
        }
        for (; i <= length - 16; i += 16)
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), WeightConversion.HalfToSingle512(Vector256.Load(w + i)), s0);
        float sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(x[i], (float)BitConverter.UInt16BitsToHalf(w[i]), sum);
        return sum;
    }

    /// <summary>Half → float: the 16 bits zero-extended, exponent+mantissa shifted to float position (<<13) with the
    /// sign moved to bit 31 by one ternary-logic select, times 2^112; exponent 31 (Inf/NaN) patched with a masked or.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> H2F(Vector256<ushort> h)
    {
        var bits = Avx512F.ConvertToVector512UInt32(h);
        var shifted = bits << 13;          // em at bits 13..27, sign at bit 28
        var sign = bits << 16;             // sign at bit 31
        // select: bit 31 from sign, bits 13..27 from shifted, the rest zero: (shifted & 0x0FFFE000) | (sign & 0x80000000)
        var merged = Avx512F.TernaryLogic(shifted, sign, Vector512.Create(0x0FFFE000u), 0xE4 /* c ? a : b */ ).AsSingle();
        var f = merged * Vector512.Create(5.192296858534828e33f);
        var infNan = Avx512F.CompareGreaterThanOrEqual(bits & Vector512.Create(0x7FFFu), Vector512.Create(0x7C00u));
        return Vector512.ConditionalSelect(infNan.AsSingle(), (f.AsUInt32() | Vector512.Create(0x7F800000u)).AsSingle(), f);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotHalfTernary(float* x, ushort* w, int length, int dist)
    {
        int i = 0;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; i <= length - 64; i += 64)
        {
            if (dist > 0)
            {
                Sse.Prefetch1((byte*)(w + i) + dist);
                Sse.Prefetch1((byte*)(w + i) + dist + 64);
            }
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), WeightConversion.HalfToSingle512(Vector256.Load(w + i)), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 16)), s1);
            s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 32)), s2);
            s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), WeightConversion.HalfToSingle512(Vector256.Load(w + i + 48)), s3);
        }
        for (; i <= length - 16; i += 16)
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), WeightConversion.HalfToSingle512(Vector256.Load(w + i)), s0);
        float sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(x[i], (float)BitConverter.UInt16BitsToHalf(w[i]), sum);
        return sum;
    }

    /// <summary>Half → float for finite halves only (no Inf/NaN patch): widen, two shifts, one ternary-logic
    /// select, one multiply — five operations per 16 weights instead of ten.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> H2FFinite(Vector256<ushort> h)
    {
        var bits = Avx512F.ConvertToVector512UInt32(h);
        var merged = Avx512F.TernaryLogic(bits << 13, bits << 16, Vector512.Create(0x0FFFE000u), 0xE4).AsSingle();
        return merged * Vector512.Create(5.192296858534828e33f);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float DotHalfFinite(float* x, ushort* w, int length, int dist)
    {
        int i = 0;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; i <= length - 64; i += 64)
        {
            if (dist > 0)
            {
                Sse.Prefetch0((byte*)(w + i) + dist);
                Sse.Prefetch0((byte*)(w + i) + dist + 64);
            }
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), H2FFinite(Vector256.Load(w + i)), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), H2FFinite(Vector256.Load(w + i + 16)), s1);
            s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), H2FFinite(Vector256.Load(w + i + 32)), s2);
            s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), H2FFinite(Vector256.Load(w + i + 48)), s3);
        }
        for (; i <= length - 16; i += 16)
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), H2FFinite(Vector256.Load(w + i)), s0);
        float sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(x[i], (float)BitConverter.UInt16BitsToHalf(w[i]), sum);
        return sum;
    }
}
