using TokenSieve.Evaluation;
using System.Diagnostics;
using System.Globalization;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pruning;
using TokenSieve.Methods;

namespace TokenSieve.Bench.Pruning;

/// <summary>Decoder-pruning benchmark on random-weight models (no real LLaVA weights here), printed
/// as Markdown: (1) prefill time of each pruner next to the unpruned run, both at full length and at
/// a shorter length with equal FLOPs (METHODS.md §13 per-layer cost from the real tokens per layer);
/// the gap is the pruner's own overhead. (2) Managed bytes allocated by a prefill at 1000/2000/4000
/// tokens: linear growth (×2 per doubling), never an N×N attention matrix.</summary>
public static class PruningBench
{
    public static readonly SyntheticLlava.Shape TimingShape = new(Layers: 8, Hidden: 256, Heads: 8, KvHeads: 8, Intermediate: 688);
    public static readonly SyntheticLlava.Shape MemoryShape = new(Layers: 4, Hidden: 64, Heads: 4, KvHeads: 2, Intermediate: 128);

    /// <summary>LLaVA-1.5 layout: 35 tokens before the image, 576 visual, 40 after.</summary>
    const int Before = 35, Visual = 576, After = 40;

    public static readonly string[] TimingSpecs = ["fastv:k=2,keep=144", "pdrop:layers=2/4/6,lambda=0.5", "sparsevlm:192,layers=1/3/5", "dart:k=2,keep=128"];
    public static readonly string[] MemorySpecs = ["none", "fastv:k=1", "pdrop:layers=1/2/3,lambda=0.5", "sparsevlm:192,layers=0/1/2", "dart:k=1,keep=128"];
    public static readonly int[] MemorySizes = [1000, 2000, 4000];

    public static void Run(TextWriter? output = null, int repetitions = 5, int threads = 0)
    {
        output ??= Console.Out;
        string root = Path.Combine(Path.GetTempPath(), "tokensieve-pruning-bench-" + Environment.ProcessId);
        try
        {
            Timing(output, Path.Combine(root, "timing"), repetitions, threads);
            output.WriteLine();
            Memory(output, Path.Combine(root, "memory"), threads);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>METHODS.md §13: 4nd² + 2n²d + 3ndm multiply-accumulates per layer with n tokens.</summary>
    public static double LayerMac(long n, int d, int m) => 4.0 * n * d * d + 2.0 * n * n * d + 3.0 * n * d * m;

    public static double PrefillMac(IEnumerable<int> tokensPerLayer, int d, int m) => tokensPerLayer.Sum(n => LayerMac(n, d, m));

    static void Timing(TextWriter o, string folder, int reps, int threads)
    {
        var s = TimingShape;
        SyntheticLlava.Write(folder, s, seed: 11);
        using var model = LlavaModel.Load(folder);
        var ctx = new ComputeContext(threads);
        var session = new InferenceSession(model, ctx);
        int text = Before + After;
        var full = SyntheticLlava.Prompt(session, Before, Visual, After, seed: 1);

        o.WriteLine($"### Decoder pruning: prefill time at equal FLOPs");
        o.WriteLine();
        o.WriteLine($"Random-weight LLaMA: {s.Layers} layers, d={s.Hidden}, {s.Heads} heads ({s.KvHeads} kv), m={s.Intermediate}; prompt {Before} + {Visual} visual + {After} = {full.Length} tokens; " +
                    $"{ctx.Threads} threads; median of {reps} interleaved rounds after one warm-up round [min–max]. GMAC from METHODS.md §13 (4nd² + 2n²d + 3ndm per layer) over the engine's real tokens per layer. " +
                    "\"Equal-GMAC unpruned\" runs the plain decoder on a shorter prompt (fewer visual tokens) with the same GMAC; " +
                    "the difference to it is the pruner's own cost (Begin + Prune, measured separately; attention-row taps run inside the layer) plus the latency that §13's FLOPs do not see " +
                    "(the pruned run's first layers are full length, and attention's n² part costs more per MAC than the GEMMs).");
        o.WriteLine();
        o.WriteLine("| method | tokens per layer | GMAC | prefill ms | equal-GMAC unpruned (tokens) | its prefill ms | difference | of which pruner's own ms | speed-up vs unpruned |");
        o.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");

        // Every configuration once per round, rounds interleaved, so that load from other processes
        // drifts over all of them alike.
        var configs = new List<(string? Spec, SplicedSequence Seq)> { (null, full) };
        var pruned = new Dictionary<string, int[]>();
        foreach (var spec in TimingSpecs)
        {
            pruned[spec] = session.Prefill(full, 0, null, MethodCatalog.ParseDecoder(spec)).TokensPerLayer;
            double mac = PrefillMac(pruned[spec], s.Hidden, s.Intermediate);
            // The shortest unpruned prompt whose cost reaches the pruned run's.
            int visual = 0;
            while (visual < Visual && s.Layers * LayerMac(text + visual, s.Hidden, s.Intermediate) < mac) visual++;
            configs.Add((spec, full));
            configs.Add((null, SyntheticLlava.Prompt(session, Before, visual, After, seed: 1)));
        }
        var times = configs.Select(_ => new double[reps]).ToArray();
        var own = configs.Select(_ => new double[reps]).ToArray();
        for (int r = -1; r < reps; r++)
            for (int c = 0; c < configs.Count; c++)
            {
                var pruner = configs[c].Spec is { } spec ? new TimedPruner(MethodCatalog.ParseDecoder(spec)) : null;
                var sw = Stopwatch.StartNew();
                session.Prefill(configs[c].Seq, 0, null, pruner);
                if (r < 0) continue;
                times[c][r] = sw.Elapsed.TotalMilliseconds;
                own[c][r] = pruner?.Elapsed.TotalMilliseconds ?? 0;
            }

        var (baseMs, baseSpread) = Summary(times[0]);
        int[] baseTokens = Enumerable.Repeat(full.Length, s.Layers).ToArray();
        o.WriteLine($"| none | {Runs(baseTokens)} | {PrefillMac(baseTokens, s.Hidden, s.Intermediate) / 1e9:F2} | {baseMs:F1} {baseSpread} | – | – | – | – | 1.00× |");
        for (int i = 0; i < TimingSpecs.Length; i++)
        {
            string spec = TimingSpecs[i];
            var tokens = pruned[spec];
            var equal = configs[2 + 2 * i].Seq;
            var (ms, spread) = Summary(times[1 + 2 * i]);
            var (eqMs, eqSpread) = Summary(times[2 + 2 * i]);
            double mac = PrefillMac(tokens, s.Hidden, s.Intermediate);
            double eqMac = s.Layers * LayerMac(equal.Length, s.Hidden, s.Intermediate);
            o.WriteLine($"| `{spec}` | {Runs(tokens)} | {mac / 1e9:F2} | {ms:F1} {spread} | {equal.Length} ({eqMac / 1e9:F2} GMAC) | {eqMs:F1} {eqSpread} | {(ms - eqMs) / eqMs * 100:+0;-0}% | {Summary(own[1 + 2 * i]).Median:F1} | {baseMs / ms:F2}× |");
        }
    }

    /// <summary>Adds the wall time of the pruner's own work (Begin and every Prune) to the run.</summary>
    sealed class TimedPruner(IDecoderPruner inner) : IDecoderPruner
    {
        readonly Stopwatch _watch = new();
        public TimeSpan Elapsed => _watch.Elapsed;
        public string Spec => inner.Spec;
        public PositionPolicy Positions => inner.Positions;
        public IReadOnlyList<int> Boundaries => inner.Boundaries;

        public IPrunerRun Begin(SplicedSequence sequence, DecoderInfo decoder)
        {
            _watch.Start();
            var run = inner.Begin(sequence, decoder);
            _watch.Stop();
            return new TimedRun(run, _watch);
        }

        sealed class TimedRun(IPrunerRun run, Stopwatch watch) : IPrunerRun
        {
            public DecoderTapRequest Request(int boundary, PruneLayout layout) => run.Request(boundary, layout);

            public PruneDecision Prune(PruneState state)
            {
                watch.Start();
                var decision = run.Prune(state);
                watch.Stop();
                return decision;
            }
        }
    }

    static (double Median, string Spread) Summary(double[] times) =>
        (SampleStats.Median(times), string.Create(CultureInfo.InvariantCulture, $"[{times.Min():F1}–{times.Max():F1}]"));

    /// <summary>Run-length form of tokens per layer: "651×2, 219×6".</summary>
    static string Runs(int[] tokens)
    {
        var parts = new List<string>();
        for (int i = 0; i < tokens.Length;)
        {
            int j = i;
            while (j < tokens.Length && tokens[j] == tokens[i]) j++;
            parts.Add($"{tokens[i]}×{j - i}");
            i = j;
        }
        return string.Join(", ", parts);
    }

    static void Memory(TextWriter o, string folder, int threads)
    {
        var s = MemoryShape;
        SyntheticLlava.Write(folder, s with { MaxPositions = MemorySizes[^1] + 16 }, seed: 5);
        o.WriteLine("### Decoder pruning: prefill memory growth");
        o.WriteLine();
        o.WriteLine($"Random-weight LLaMA: {s.Layers} layers, d={s.Hidden}, {s.Heads} heads ({s.KvHeads} kv), m={s.Intermediate}; 5 + N−15 visual + 10 tokens. " +
                    "Managed bytes allocated by one prefill (GC.GetTotalAllocatedBytes; KV cache, activations, attention taps and the pruner's buffers, all of it), " +
                    "fresh model each run. Linear growth doubles per step; an N×N attention matrix would quadruple it.");
        o.WriteLine();
        o.WriteLine($"| method | {string.Join(" | ", MemorySizes.Select(n => $"KiB @ {n}"))} | {string.Join(" | ", MemorySizes.Skip(1).Select((n, i) => $"×{MemorySizes[i]}→{n}"))} | one head's N×N @ {MemorySizes[^1]} (KiB) |");
        o.WriteLine($"|---|{string.Concat(Enumerable.Repeat("---:|", MemorySizes.Length * 2))}");
        foreach (var spec in MemorySpecs)
        {
            var bytes = new long[MemorySizes.Length];
            for (int i = 0; i < MemorySizes.Length; i++)
            {
                using var model = LlavaModel.Load(folder);
                var session = new InferenceSession(model, new ComputeContext(threads));
                var seq = SyntheticLlava.Prompt(session, 5, MemorySizes[i] - 15, 10, seed: i);
                var pruner = spec == "none" ? null : MethodCatalog.ParseDecoder(spec);
                GC.Collect();
                long before = GC.GetTotalAllocatedBytes(precise: true);
                session.Prefill(seq, 0, null, pruner);
                bytes[i] = GC.GetTotalAllocatedBytes(precise: true) - before;
            }
            var ratios = Enumerable.Range(1, bytes.Length - 1).Select(i => ((double)bytes[i] / bytes[i - 1]).ToString("F2", CultureInfo.InvariantCulture));
            long square = (long)MemorySizes[^1] * MemorySizes[^1] * sizeof(float);
            o.WriteLine($"| `{spec}` | {string.Join(" | ", bytes.Select(b => (b / 1024).ToString(CultureInfo.InvariantCulture)))} | {string.Join(" | ", ratios)} | {square / 1024} |");
        }
    }
}
