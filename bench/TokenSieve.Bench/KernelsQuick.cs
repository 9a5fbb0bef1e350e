using TokenSieve.Evaluation;
using System.Diagnostics;
using TokenSieve.Numerics;

namespace TokenSieve.Bench;

/// <summary>`kernels` mode: times each kernel shape without BenchmarkDotNet's process isolation and prints
/// one Markdown table, efficiencies as ratios to the FMA peak and read bandwidth measured in this process.</summary>
public static class KernelsQuick
{
    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount;
        string? filter = null;
        double minMs = 1500;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--filter": filter = args[++i]; break;
                case "--min-ms": minMs = double.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        var ctx = new ComputeContext(threads);
        Console.WriteLine($"# TokenSieve kernels — {threads} thread(s), {Environment.ProcessorCount} cores, vector lanes {MachineProbe.Lanes}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.Error.WriteLine("probing peak…");
        // Many short repeats: on a shared machine the best-of needs a few bursts in which no other process runs.
        double peak1 = MachineProbe.PeakFlops(1, repeats: 60);
        double peak = MachineProbe.PeakFlops(threads, repeats: 60);
        Console.Error.WriteLine("probing bandwidth…");
        double bandwidth = MachineProbe.ReadBandwidth(threads);
        Console.WriteLine();
        Console.WriteLine($"Measured peak: {peak1 / 1e9:F1} GFLOP/s on 1 thread, {peak / 1e9:F1} GFLOP/s on {threads} ({peak / peak1 / threads:P0} of {threads} × 1-thread); streaming read {bandwidth / 1e9:F1} GB/s on {threads}.");
        if (peak < 0.9 * threads * peak1)
            Console.WriteLine($"Note: the {threads}-thread probe reached less than 90% of {threads} × the 1-thread peak: other processes are using the cores, so wall-time ratios are unreliable; see the CPU-second column.");
        Console.WriteLine();
        Console.WriteLine("Median ± half the interquartile range; GFLOP/s and % of peak from the median; the best run is shown too, since other");
        Console.WriteLine("processes may share the cores (the peak and bandwidth are best-of probes). The CPU-second column divides by process");
        Console.WriteLine("CPU time instead of wall time, against the 1-thread peak: per-core efficiency while actually running.");
        Console.WriteLine();
        Console.WriteLine("| kernel | shape | dtype | median ms | ± spread | best ms | GFLOP/s | % peak | % peak (best) | % of per-thread peak per CPU-second | GB/s | % bandwidth |");
        Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        foreach (var (m, k, n) in KernelCases.PrefillShapes.Concat(KernelCases.DecodeShapes))
        {
            var x = KernelCases.Random((long)m * k, 1);
            var wf = KernelCases.Random((long)n * k, 2);
            var bias = KernelCases.Random(n, 3);
            var y = new float[(long)m * n];
            bool decode = m <= Gemm.GemvMaxRows;
            foreach (var dt in decode ? KernelCases.DecodeDTypes : KernelCases.DTypes)
            {
                string name = $"{m}x{k}x{n}";
                if (filter != null && !$"linear {name} {dt}".Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                // Decode reads every layer's weights once per token, far more than the last-level cache holds: cycle
                // through copies totalling ≥ 1 GiB (several times a server's shared L3, 260 MiB on the Xeon VMs here)
                // so each call streams W from memory, as in a real model.
                var w = WeightMatrix.FromFloats("bench", wf, n, k, dt);
                int copies = decode ? (int)Math.Max(1, (1L << 30) / w.ByteLength) : 1;
                var ws = new WeightMatrix[copies];
                ws[0] = w;
                for (int c = 1; c < copies; c++) ws[c] = WeightMatrix.FromFloats("bench", wf, n, k, dt);
                int call = 0;
                var (med, spread, best) = Time(() => Gemm.Linear(ctx, x, m, ws[call++ % copies], bias, y), minMs);
                double flops = 2.0 * m * n * k;
                double gbs = w.ByteLength / (med / 1e3) / 1e9;
                Console.WriteLine($"| linear | {name} | {dt} | {med:F3} | {spread:F3} | {best:F3} | {flops / med / 1e6:F1} | {100 * flops / med / 1e-3 / peak:F1}% | {100 * flops / best / 1e-3 / peak:F1}% | {100 * flops / LastCpuMsPerRun / 1e-3 / peak1:F1}% | {(decode ? $"{gbs:F1}" : "")} | {(decode ? $"{100 * gbs * 1e9 / bandwidth:F1}%" : "")} |");
            }
        }

        foreach (var c in KernelCases.Attention)
        {
            if (filter != null && !$"attention {c.Name}".Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var s = c.Shape;
            var q = KernelCases.Random((long)c.Queries * c.QueryHeads * c.HeadDim, 4);
            var kk = KernelCases.Random((long)c.Keys * c.KvHeads * c.HeadDim, 5);
            var v = KernelCases.Random((long)c.Keys * c.KvHeads * c.HeadDim, 6);
            var o = new float[(long)c.Queries * c.QueryHeads * c.HeadDim];
            var (med, spread, best) = Time(() => Attention.Forward(ctx, q, c.QueryHeads * c.HeadDim, kk, v, c.KvHeads * c.HeadDim, o, c.QueryHeads * c.HeadDim, s), minMs);
            Console.WriteLine($"| attention | {c.Name} ({c.Queries}q×{c.Keys}k, {c.QueryHeads}/{c.KvHeads} heads) | F32 | {med:F3} | {spread:F3} | {best:F3} | {c.Flops / med / 1e6:F1} | {100 * c.Flops / med / 1e-3 / peak:F1}% | {100 * c.Flops / best / 1e-3 / peak:F1}% | {100 * c.Flops / LastCpuMsPerRun / 1e-3 / peak1:F1}% | | |");
        }
        return 0;
    }

    /// <summary>Process CPU time per run of the last <see cref="Time"/> call (all threads; immune to being descheduled,
    /// not to cache interference), in ms.</summary>
    static double LastCpuMsPerRun;

    /// <summary>Median, half the interquartile range and minimum, in ms, of repeated runs after two warm-ups.</summary>
    static (double Median, double Spread, double Best) Time(Action body, double minMs)
    {
        body();
        body();
        var samples = new List<double>();
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var total = Stopwatch.StartNew();
        while (samples.Count < 7 || (total.Elapsed.TotalMilliseconds < minMs && samples.Count < 200))
        {
            long t0 = Stopwatch.GetTimestamp();
            body();
            samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        process.Refresh();
        LastCpuMsPerRun = (process.TotalProcessorTime - cpu0).TotalMilliseconds / samples.Count;
        return (SampleStats.Median(samples), (SampleStats.Quantile(samples, 0.75) - SampleStats.Quantile(samples, 0.25)) / 2, samples.Min());
    }
}
