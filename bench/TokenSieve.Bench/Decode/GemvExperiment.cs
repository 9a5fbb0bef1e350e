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
        var xScaled = new float[k];
        fixed (float* px = x)
        fixed (float* pxs = xScaled)
        {
            float* xp = px;
            Gemm.ScaleForHalf(px, pxs, k, out _); // |x| < 2^12 here: unscale is 1
            ScaledX = pxs;
            Variant(0, ws[0], k, n, xp, yref, 0, n, 0);
            foreach (int threads in new[] { 1, 2 })
            {
                var ctx = new ComputeContext(threads);
                foreach (var (v, dist) in new[] { (0, 0), (4, 4096), (0, 0), (4, 4096), (4, 8192), (4, 0) })
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

    /// <summary>Rows j0..j1 of y = W·x with kernel variant <paramref name="v"/>: 0 the general-conversion
    /// <see cref="Gemm.DotHalf"/>; 1 the exact conversion with an L1 prefetch <paramref name="dist"/> bytes
    /// ahead; 2 the exact conversion with an L2 prefetch (none at distance 0); 3 the finite-only
    /// conversion with an L1 prefetch (none at distance 0); 4 the product's <see cref="Gemm.DotHalfScaled"/> on
    /// <see cref="ScaledX"/> (x from <see cref="Gemm.ScaleForHalf"/>).</summary>
    internal static void Variant(int v, byte* w, int k, int n, float* x, float[] y, int j0, int j1, int dist)
    {
        fixed (float* py = y)
            for (int j = j0; j < j1; j++)
            {
                ushort* row = (ushort*)(w + (long)j * k * 2);
                py[j] = v switch
                {
                    0 => Gemm.DotHalf(x, row, k),
                    1 => Dot<ExactHalf, L1Prefetch>(x, row, k, dist),
                    2 => dist > 0 ? Dot<ExactHalf, L2Prefetch>(x, row, k, dist) : Dot<ExactHalf, NoPrefetch>(x, row, k, 0),
                    3 => dist > 0 ? Dot<FiniteHalf, L1Prefetch>(x, row, k, dist) : Dot<FiniteHalf, NoPrefetch>(x, row, k, 0),
                    _ => Gemm.DotHalfScaled(ScaledX, row, k), // the product's kernel (its own prefetch distance)
                };
            }
    }

    interface IHalfToSingle { static abstract Vector512<float> Convert(Vector256<ushort> h); }
    interface IPrefetch { static abstract void At(byte* p); }

    /// <summary>The product's conversion (<see cref="WeightConversion.HalfToSingle512"/>, Inf/NaN included).</summary>
    struct ExactHalf : IHalfToSingle
    {
        public static Vector512<float> Convert(Vector256<ushort> h) => WeightConversion.HalfToSingle512(h);
    }

    /// <summary>Half → float for finite halves only (no Inf/NaN patch): widen, two shifts, one ternary-logic
    /// select, one multiply — five operations per 16 weights instead of ten.</summary>
    struct FiniteHalf : IHalfToSingle
    {
        public static Vector512<float> Convert(Vector256<ushort> h)
        {
            var bits = Avx512F.ConvertToVector512UInt32(h);
            var merged = Avx512F.TernaryLogic(bits << 13, bits << 16, Vector512.Create(0x0FFFE000u), 0xE4).AsSingle();
            return merged * Vector512.Create(5.192296858534828e33f);
        }
    }

    internal static float* ScaledX;

    struct L1Prefetch : IPrefetch { public static void At(byte* p) => Sse.Prefetch0(p); }
    struct L2Prefetch : IPrefetch { public static void At(byte* p) => Sse.Prefetch1(p); }
    struct NoPrefetch : IPrefetch { public static void At(byte* p) { } }

    /// <summary><see cref="Gemm.DotHalf"/>'s loop (four accumulators over 64-element chunks) with the
    /// conversion and the prefetch (two lines, <paramref name="dist"/> bytes ahead) as type parameters.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static float Dot<THalf, TPrefetch>(float* x, ushort* w, int length, int dist)
        where THalf : struct, IHalfToSingle where TPrefetch : struct, IPrefetch
    {
        int i = 0;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; i <= length - 64; i += 64)
        {
            TPrefetch.At((byte*)(w + i) + dist);
            TPrefetch.At((byte*)(w + i) + dist + 64);
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), THalf.Convert(Vector256.Load(w + i)), s0);
            s1 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 16), THalf.Convert(Vector256.Load(w + i + 16)), s1);
            s2 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 32), THalf.Convert(Vector256.Load(w + i + 32)), s2);
            s3 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i + 48), THalf.Convert(Vector256.Load(w + i + 48)), s3);
        }
        for (; i <= length - 16; i += 16)
            s0 = Avx512F.FusedMultiplyAdd(Vector512.Load(x + i), THalf.Convert(Vector256.Load(w + i)), s0);
        float sum = Vector512.Sum((s0 + s1) + (s2 + s3));
        for (; i < length; i++) sum = MathF.FusedMultiplyAdd(x[i], (float)BitConverter.UInt16BitsToHalf(w[i]), sum);
        return sum;
    }
}
