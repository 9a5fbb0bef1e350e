using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using TokenSieve.Checkpoints;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Bench.Decode;

/// <summary>Does the decode GEMV stream slower from a memory-mapped file than from anonymous memory, and
/// do 2 MiB pages help? The same F16 matrices (1 GiB of copies of 5632x2048) read through Gemm.Linear
/// (the decode path) from: anonymous memory, anonymous memory with madvise(MADV_HUGEPAGE), and a
/// read-only file mapping (how safetensors and GGUF weights are read). Variants alternate, several passes.</summary>
public static unsafe partial class PagesExperiment
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);
    const int MADV_HUGEPAGE = 14;

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--model") return InSitu(args[1], args.Length > 2 ? int.Parse(args[2]) : 2);
        int threads = args.Length > 0 ? int.Parse(args[0]) : 2;
        int k = 2048, n = 5632;
        long bytes = (long)n * k * 2;
        int copies = (int)((1L << 30) / bytes);
        long total = bytes * copies;
        var wf = KernelCases.Random((long)n * k, 2);
        var w = WeightMatrix.FromFloats("w", wf, n, k, DType.F16);

        byte* anon = (byte*)NativeMemory.AlignedAlloc((nuint)total, 1 << 21);
        byte* huge = (byte*)NativeMemory.AlignedAlloc((nuint)total, 1 << 21);
        int rc = madvise((nint)huge, (nuint)total, MADV_HUGEPAGE);
        Console.WriteLine($"madvise(MADV_HUGEPAGE) rc {rc}");
        string file = Path.Combine(args.Length > 1 ? args[1] : "/work", "pages-experiment.bin");
        using (var fs = File.Create(file))
            for (int c = 0; c < copies; c++) fs.Write(new ReadOnlySpan<byte>((void*)w.Pointer, (int)bytes));
        for (int c = 0; c < copies; c++)
        {
            Buffer.MemoryCopy((void*)w.Pointer, anon + c * bytes, bytes, bytes);
            Buffer.MemoryCopy((void*)w.Pointer, huge + c * bytes, bytes, bytes);
        }
        using var map = MemoryMappedFile.CreateFromFile(file, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(0, total, MemoryMappedFileAccess.Read);
        byte* mapped = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref mapped);
        mapped += view.PointerOffset;
        Console.WriteLine(File.ReadAllText("/proc/meminfo").Split('\n').Where(l => l.Contains("Huge")).Aggregate((a, b) => a + "; " + b));

        var x = KernelCases.Random(k, 1);
        var y = new float[n];
        var ctx = new ComputeContext(threads);
        var variants = new (string Name, nint Base)[] { ("anonymous 4K", (nint)anon), ("anonymous madvise huge", (nint)huge), ("file mmap", (nint)mapped) };
        var results = variants.ToDictionary(v => v.Name, _ => new List<double>());
        for (int pass = 0; pass < 4; pass++)
            foreach (var (name, baseAddr) in variants)
            {
                int call = 0;
                for (int r = 0; r < 3 * copies; r++)
                {
                    var m = new WeightMatrix("w", DType.F16, n, k, baseAddr + (nint)((call++ % copies) * bytes), null);
                    long t0 = Stopwatch.GetTimestamp();
                    Gemm.Linear(ctx, x, 1, m, default, y);
                    if (r >= copies) results[name].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
            }
        foreach (var (name, _) in variants)
        {
            var t = results[name]; t.Sort();
            double med = t[t.Count / 2], q1 = t[t.Count / 4], q3 = t[3 * t.Count / 4];
            Console.WriteLine($"{threads} threads, {name,-24}: median {med:F3} ms [{q1:F3}-{q3:F3}], {bytes / med / 1e6:F1} GB/s");
        }
        File.Delete(file);
        return 0;
    }

    /// <summary>One decode step of a real model next to the bare sequence of its GEMVs (the same matrices,
    /// same order, nothing else), read in place (the file mapping) and from anonymous copies with and
    /// without MADV_HUGEPAGE: where the step's time goes beyond the weight streaming.</summary>
    static int InSitu(string dir, int threads)
    {
        var ctx = new ComputeContext(threads);
        using var m = LlavaModel.Load(dir, new ModelLoadOptions { Compute = ctx });
        var dec = m.Decoder;
        var mats = dec.DecodeMatrices().ToList();
        long bytes = mats.Sum(w => w.ByteLength);
        Console.WriteLine($"{mats.Count} matrices, {bytes / 1e9:F2} GB per step, {threads} threads, weights {m.WeightType}");
        var copies = new List<WeightMatrix>[2];
        for (int v = 0; v < 2; v++)
        {
            copies[v] = [];
            foreach (var w in mats)
            {
                byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)w.ByteLength, 1 << 21);
                if (v == 1) madvise((nint)p, (nuint)w.ByteLength, MADV_HUGEPAGE);
                Buffer.MemoryCopy((void*)w.Pointer, p, w.ByteLength, w.ByteLength);
                copies[v].Add(new WeightMatrix(w.Name, w.DType, w.Rows, w.Cols, (nint)p, null));
            }
        }
        int maxK = mats.Max(w => w.Cols), maxN = mats.Max(w => w.Rows);
        var x = KernelCases.Random(maxK, 1);
        var y = new float[maxN];
        double Sequence(List<WeightMatrix> ws)
        {
            long t0 = Stopwatch.GetTimestamp();
            foreach (var w in ws) Gemm.Linear(ctx, x.AsSpan(0, w.Cols), 1, w, default, y.AsSpan(0, w.Rows));
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        // The decode GEMV's prefetch and conversion choices over the same in-place matrices: (variant,
        // distance) of GemvExperiment.Variant — 1: L1 prefetch (4096 is the product's choice), 2: L2
        // prefetch (none at 0), 3: the finite-only conversion, 4: the product's scaled-x kernel.
        var prefetchVariants = new (string Name, int V, int Dist)[] { ("L1 prefetch 4 KiB", 1, 4096), ("L1 prefetch 8 KiB", 1, 8192), ("L1 prefetch 2 KiB", 1, 2048), ("L2 prefetch 4 KiB", 2, 4096), ("finite-only conversion, L1 4 KiB", 3, 4096), ("finite-only, L1 2 KiB", 3, 2048), ("product scaled x", 4, 4096) };
        var xScaledHandle = GCHandle.Alloc(new float[maxK], GCHandleType.Pinned);
        GemvExperiment.ScaledX = (float*)xScaledHandle.AddrOfPinnedObject();
        fixed (float* px = x) Gemm.ScaleForHalf(px, GemvExperiment.ScaledX, maxK, out _);
        double Custom(int v, int dist)
        {
            long t0 = Stopwatch.GetTimestamp();
            foreach (var w in mats)
            {
                byte* wp = (byte*)w.Pointer;
                int k = w.Cols, n = w.Rows;
                fixed (float* px = x)
                {
                    float* xp = px;
                    ctx.For((n + 31) / 32, t => GemvExperiment.Variant(v, wp, k, n, xp, y, t * 32, Math.Min(n, t * 32 + 32), dist));
                }
            }
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        if (Environment.GetEnvironmentVariable("BREAKDOWN") == "1")
        {
            // time per matrix shape: the same GEMVs grouped by (rows, cols), 5 passes, medians
            foreach (var g in mats.GroupBy(w => (w.Rows, w.Cols)))
            {
                var list = g.ToList();
                long gb = list.Sum(w => w.ByteLength);
                var t = new List<double>();
                for (int pass = 0; pass < 7; pass++) t.Add(Sequence(list));
                t.Sort();
                Console.WriteLine($"shape {g.Key.Rows}x{g.Key.Cols} x{list.Count}: median {t[3]:F2} ms, {gb / t[3] / 1e6:F1} GB/s, {t[3] * 1000 / list.Count:F0} us per GEMV");
            }
            return 0;
        }
        if (mats.All(w => w.DType == DType.F16))
        {
            var pt = prefetchVariants.ToDictionary(p => p.Name, _ => new List<double>());
            var product = new List<double>();
            for (int pass = 0; pass < 5; pass++)
            {
                product.Add(Sequence(mats));
                foreach (var p in prefetchVariants) pt[p.Name].Add(Custom(p.V, p.Dist));
            }
            product.Sort();
            Console.WriteLine($"{"product GEMV",-22}: median {product[2]:F1} ms, {bytes / product[2] / 1e6:F1} GB/s");
            foreach (var (name, t) in pt) { t.Sort(); Console.WriteLine($"{name,-22}: median {t[2]:F1} ms [{t[1]:F1}-{t[3]:F1}], {bytes / t[2] / 1e6:F1} GB/s"); }
        }
        var session = new InferenceSession(m, ctx);
        var ids = Enumerable.Range(1, 16).ToArray();
        var seq = session.Splice(ids, []);
        var times = new Dictionary<string, List<double>> { ["decode step"] = [], ["GEMVs in place"] = [], ["GEMVs anonymous 4K"] = [], ["GEMVs anonymous huge"] = [] };
        for (int pass = 0; pass < 6; pass++)
        {
            session.Prefill(seq, 8);
            for (int s = 0; s < 4; s++)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.DecodeStep(5 + s);
                if (pass > 0) times["decode step"].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            for (int s = 0; s < 4; s++)
            {
                double a = Sequence(mats), b = Sequence(copies[0]), c = Sequence(copies[1]);
                if (pass > 0) { times["GEMVs in place"].Add(a); times["GEMVs anonymous 4K"].Add(b); times["GEMVs anonymous huge"].Add(c); }
            }
        }
        foreach (var (name, t) in times)
        {
            t.Sort();
            double med = t[t.Count / 2];
            Console.WriteLine($"{name,-22}: median {med:F1} ms [{t[t.Count / 4]:F1}-{t[3 * t.Count / 4]:F1}], {bytes / med / 1e6:F1} GB/s of weights");
        }
        return 0;
    }
}
