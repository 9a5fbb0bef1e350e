using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Numerics;

/// <summary>Measured machine limits, so benchmarks report efficiency as a ratio to what this process
/// can attain right now (not a datasheet number): fp32 FMA throughput from a register-only loop, and
/// streaming-read bandwidth from a buffer far larger than the caches.</summary>
internal static unsafe class MachineProbe
{
    /// <summary>Vector width the probe (and the kernels) use, in fp32 lanes.</summary>
    public static int Lanes => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;

    /// <summary>Best fp32 FLOP/s over <paramref name="repeats"/> runs of <paramref name="threads"/> threads,
    /// each running <paramref name="iterations"/> × 12 independent FMAs (2 flops per lane per FMA;
    /// 2·10⁶ iterations ≈ 4–8 ms per thread at AVX-512 rates: short bursts, so that on a shared machine
    /// some repeats run undisturbed, like the best-of kernel timings they are compared with).</summary>
    public static double PeakFlops(int threads, long iterations = 2_000_000, int repeats = 25)
    {
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads));
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            var (s, flopsPerThread) = TimeFmaLoop(threads, iterations);
            best = Math.Max(best, flopsPerThread * threads / s);
        }
        return best;
    }

    /// <summary>Best streaming-read bandwidth in bytes/s over <paramref name="repeats"/> passes of
    /// <paramref name="threads"/> threads summing disjoint slices of a <paramref name="megabytes"/> MiB buffer, each
    /// thread reading four sub-slices at once.</summary>
    /// <remarks>The buffer is 1 GiB so it streams from memory (the Xeon VMs here have a 260 MiB shared L3), and four
    /// concurrent streams per thread keep more lines in flight than one stream with the hardware prefetcher alone:
    /// on 2 threads of a Xeon VM one stream read 21.8 GB/s, four 27.0, eight 25.4, one with software prefetch 24.6
    /// (bench probe-experiment). The decode GEMV, which reads one contiguous slab per thread, is measured against this.</remarks>
    public static double ReadBandwidth(int threads, int megabytes = 1024, int repeats = 5)
    {
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads));
        long bytes = (long)megabytes << 20;
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            long floats = bytes / 4;
            new Span<byte>(buffer, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            for (long off = int.MaxValue; off < bytes; off += int.MaxValue)
                new Span<byte>((byte*)buffer + off, (int)Math.Min(bytes - off, int.MaxValue)).Fill(1);
            double best = 0;
            for (int r = 0; r < repeats; r++)
            {
                double s = RunOnThreads(threads, t =>
                {
                    long per = floats / threads / 256 * 256;
                    Sink(SumSlice(buffer + t * per, per));
                });
                best = Math.Max(best, floats / threads / 256 * 256 * threads * 4.0 / s);
            }
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    static volatile float s_sink;
    static void Sink(float v) => s_sink = v;

    static (double Seconds, double FlopsPerThread) TimeFmaLoop(int threads, long iterations)
    {
        double s = RunOnThreads(threads, _ => Sink(FmaLoop(iterations)));
        // 12 FMAs per iteration, each Lanes wide, 2 flops per lane.
        return (s, iterations * 12.0 * Lanes * 2);
    }

    /// <summary>Runs body(t) on <paramref name="threads"/> fresh threads: once untimed (warm-up, JIT), then
    /// released together and timed; returns seconds from the first timed start to the last timed end
    /// (each thread stamps its own times, so a descheduled coordinator cannot shorten the interval).</summary>
    static double RunOnThreads(int threads, Action<int> body)
    {
        using var start = new Barrier(threads);
        var workers = new Thread[threads];
        var begin = new long[threads];
        var end = new long[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                body(id);
                start.SignalAndWait();
                begin[id] = Stopwatch.GetTimestamp();
                body(id);
                end[id] = Stopwatch.GetTimestamp();
            }) { IsBackground = true };
        }
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        return (end.Max() - begin.Min()) / (double)Stopwatch.Frequency;
    }

    /// <summary>Twelve independent FMA chains: enough to cover FMA latency × issue width (4 cycles × 2 pipes)
    /// with room to spare, and few enough to stay in registers.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float FmaLoop(long iterations)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(0.999999f);
            var a = Vector512.Create(1e-7f);
            Vector512<float> c0 = Vector512.Create(1f), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a,
                c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
            for (long i = 0; i < iterations; i++)
            {
                c0 = Avx512F.FusedMultiplyAdd(c0, m, a); c1 = Avx512F.FusedMultiplyAdd(c1, m, a);
                c2 = Avx512F.FusedMultiplyAdd(c2, m, a); c3 = Avx512F.FusedMultiplyAdd(c3, m, a);
                c4 = Avx512F.FusedMultiplyAdd(c4, m, a); c5 = Avx512F.FusedMultiplyAdd(c5, m, a);
                c6 = Avx512F.FusedMultiplyAdd(c6, m, a); c7 = Avx512F.FusedMultiplyAdd(c7, m, a);
                c8 = Avx512F.FusedMultiplyAdd(c8, m, a); c9 = Avx512F.FusedMultiplyAdd(c9, m, a);
                c10 = Avx512F.FusedMultiplyAdd(c10, m, a); c11 = Avx512F.FusedMultiplyAdd(c11, m, a);
            }
            return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        if (Vector256.IsHardwareAccelerated && Fma.IsSupported)
        {
            var m = Vector256.Create(0.999999f);
            var a = Vector256.Create(1e-7f);
            Vector256<float> c0 = Vector256.Create(1f), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a,
                c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
            for (long i = 0; i < iterations; i++)
            {
                c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a);
                c2 = Fma.MultiplyAdd(c2, m, a); c3 = Fma.MultiplyAdd(c3, m, a);
                c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
                c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a);
                c8 = Fma.MultiplyAdd(c8, m, a); c9 = Fma.MultiplyAdd(c9, m, a);
                c10 = Fma.MultiplyAdd(c10, m, a); c11 = Fma.MultiplyAdd(c11, m, a);
            }
            return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        float s0 = 1f, s1 = 1f, s2 = 1f, s3 = 1f, s4 = 1f, s5 = 1f, s6 = 1f, s7 = 1f, s8 = 1f, s9 = 1f, s10 = 1f, s11 = 1f;
        for (long i = 0; i < iterations; i++)
        {
            s0 = s0 * 0.999999f + 1e-7f; s1 = s1 * 0.999999f + 1e-7f; s2 = s2 * 0.999999f + 1e-7f; s3 = s3 * 0.999999f + 1e-7f;
            s4 = s4 * 0.999999f + 1e-7f; s5 = s5 * 0.999999f + 1e-7f; s6 = s6 * 0.999999f + 1e-7f; s7 = s7 * 0.999999f + 1e-7f;
            s8 = s8 * 0.999999f + 1e-7f; s9 = s9 * 0.999999f + 1e-7f; s10 = s10 * 0.999999f + 1e-7f; s11 = s11 * 0.999999f + 1e-7f;
        }
        return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11;
    }

    /// <summary>Sum of a slice read as four streams (its quarters side by side); count a multiple of 256.
    /// The probe's read loop, also timed by the bench's probe experiment.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static float SumSlice(float* p, long count)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            // Four streams: the slice's quarters, read side by side (count is a multiple of 256).
            long q = count / 4;
            float* a = p, b = p + q, c = p + 2 * q, d = p + 3 * q;
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (long i = 0; i < q; i += 32)
            {
                s0 += Vector512.LoadAligned(a + i) + Vector512.LoadAligned(a + i + 16);
                s1 += Vector512.LoadAligned(b + i) + Vector512.LoadAligned(b + i + 16);
                s2 += Vector512.LoadAligned(c + i) + Vector512.LoadAligned(c + i + 16);
                s3 += Vector512.LoadAligned(d + i) + Vector512.LoadAligned(d + i + 16);
            }
            return Vector512.Sum(s0 + s1 + s2 + s3);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (long i = 0; i < count; i += 32)
            {
                s0 += Vector256.LoadAligned(p + i);
                s1 += Vector256.LoadAligned(p + i + 8);
                s2 += Vector256.LoadAligned(p + i + 16);
                s3 += Vector256.LoadAligned(p + i + 24);
            }
            return Vector256.Sum(s0 + s1 + s2 + s3);
        }
        float s = 0f;
        for (long i = 0; i < count; i++) s += p[i];
        return s;
    }
}
