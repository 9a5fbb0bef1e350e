using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Bench.Decode;

public static unsafe class ProbeExperiment
{
    public static int Run(string[] args)
    {
        long bytes = 1L << 30;
        byte* buf = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        for (long i = 0; i < bytes; i += 4096) buf[i] = 1;
        new Span<byte>(buf, int.MaxValue / 2).Fill(1);
        for (long off = int.MaxValue / 2; off < bytes; off += int.MaxValue / 2) new Span<byte>(buf + off, (int)Math.Min(bytes - off, int.MaxValue / 2)).Fill(1);
        foreach (int threads in new[] { 1, 2 })
            foreach (var name in new[] { "sum1", "streams4", "streams8", "prefetch", "touch" })
            {
                double best = 0;
                var all = new List<double>();
                for (int r = 0; r < 7; r++)
                {
                    long per = bytes / threads / 4096 * 4096;
                    var ts = new Thread[threads];
                    long t0 = 0, t1 = 0;
                    using var bar = new Barrier(threads);
                    var begin = new long[threads]; var end = new long[threads];
                    for (int t = 0; t < threads; t++)
                    {
                        int id = t;
                        ts[t] = new Thread(() => { bar.SignalAndWait(); begin[id] = Stopwatch.GetTimestamp(); s_sink = Call(name, buf + id * per, per); end[id] = Stopwatch.GetTimestamp(); });
                        ts[t].Start();
                    }
                    foreach (var t in ts) t.Join();
                    t0 = begin.Min(); t1 = end.Max();
                    double gbs = per * threads / ((t1 - t0) / (double)Stopwatch.Frequency) / 1e9;
                    all.Add(gbs);
                    best = Math.Max(best, gbs);
                }
                all.Sort();
                Console.WriteLine($"{threads} threads {name}: best {best:F1} GB/s median {all[all.Count / 2]:F1}");
            }
        Console.WriteLine($"MachineProbe.ReadBandwidth(2) = {TokenSieve.Numerics.MachineProbe.ReadBandwidth(2) / 1e9:F1}, (1) = {TokenSieve.Numerics.MachineProbe.ReadBandwidth(1) / 1e9:F1}");
        return 0;
    }
    static volatile float s_sink;
    static float Call(string name, byte* p, long n) => name switch { "sum1" => Sum1(p, n), "streams4" => TokenSieve.Numerics.MachineProbe.SumSlice((float*)p, n / 4), "streams8" => Streams8(p, n), "prefetch" => Prefetched(p, n), _ => TouchLines(p, n) };

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Sum1(byte* p, long n)
    {
        float* f = (float*)p; long c = n / 4;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (long i = 0; i < c; i += 64) { s0 += Vector512.LoadAligned(f + i); s1 += Vector512.LoadAligned(f + i + 16); s2 += Vector512.LoadAligned(f + i + 32); s3 += Vector512.LoadAligned(f + i + 48); }
        return Vector512.Sum(s0 + s1 + s2 + s3);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Streams8(byte* p, long n)
    {
        long q = n / 8 / 4;
        float* a = (float*)p;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (long i = 0; i < q; i += 16)
        {
            s0 += Vector512.LoadAligned(a + i) + Vector512.LoadAligned(a + q + i);
            s1 += Vector512.LoadAligned(a + 2 * q + i) + Vector512.LoadAligned(a + 3 * q + i);
            s2 += Vector512.LoadAligned(a + 4 * q + i) + Vector512.LoadAligned(a + 5 * q + i);
            s3 += Vector512.LoadAligned(a + 6 * q + i) + Vector512.LoadAligned(a + 7 * q + i);
        }
        return Vector512.Sum(s0 + s1 + s2 + s3);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float Prefetched(byte* p, long n)
    {
        float* f = (float*)p; long c = n / 4;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (long i = 0; i < c; i += 64)
        {
            Sse.Prefetch0(f + i + 1024); Sse.Prefetch0(f + i + 1040); Sse.Prefetch0(f + i + 1056); Sse.Prefetch0(f + i + 1072);
            s0 += Vector512.LoadAligned(f + i); s1 += Vector512.LoadAligned(f + i + 16); s2 += Vector512.LoadAligned(f + i + 32); s3 += Vector512.LoadAligned(f + i + 48);
        }
        return Vector512.Sum(s0 + s1 + s2 + s3);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    static float TouchLines(byte* p, long n)
    {
        int s = 0;
        for (long i = 0; i < n; i += 256) s += p[i] + p[i + 64] + p[i + 128] + p[i + 192];
        return s;
    }
}
