using System.Diagnostics;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Bench.Memory;

/// <summary>Resident memory of a real-shaped model: after load (weights memory-mapped, nothing
/// touched yet) and after a full prefill (every weight page touched once), against the bytes the
/// weights and the KV cache need. Issue #2's bound: RSS after prefill ≤ 1.15 × (weights + KV).
/// Usage: memory --model DIR [--tokens 640] [--threads N]</summary>
public static class MemoryBench
{
    public static int Run(string[] args)
    {
        string? model = null;
        int tokens = 640, threads = 0;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--tokens": tokens = int.Parse(args[++i]); break;
                case "--threads": threads = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        if (model is null)
        {
            Console.Error.WriteLine("memory --model DIR [--tokens 640] [--threads N]   (make DIR with: tokensieve synth --shape llava-1.5-7b --dtype f16 --out DIR)");
            return 2;
        }
        var ctx = new ComputeContext(threads);
        long rss0 = ProcessMemory.Resident;
        var sw = Stopwatch.StartNew();
        using var m = LlavaModel.Load(model);
        double loadMs = sw.Elapsed.TotalMilliseconds;
        long rssLoad = ProcessMemory.Resident;
        long weights = m.WeightBytes;
        var cfg = m.Config;

        // A deterministic image and prompt: visual tokens from the real tower, text ids from the vocabulary.
        var rng = new Random(1);
        int s = cfg.Vision.ImageSize;
        var pixels = new float[3 * s * s];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        int visual = cfg.ImageTokensPerImage;
        int textTokens = tokens - visual;
        if (textTokens < 2) throw new ArgumentException($"--tokens must exceed the {visual} visual tokens by at least 2");
        var ids = new int[textTokens + 1];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(3, Math.Min(cfg.Text.VocabSize, 32000));
        ids[0] = cfg.Text.BosTokenId;
        int slot = Math.Min(35, textTokens - 1);
        ids[slot] = cfg.ImageTokenIndex;

        var session = new InferenceSession(m, ctx);
        sw.Restart();
        var vision = m.Vision.Forward(ctx, pixels);
        double visionMs = sw.Elapsed.TotalMilliseconds;
        var projected = session.Project(vision.PatchFeatures, visual);
        var seq = session.Splice(ids, slot, projected, visual);
        sw.Restart();
        var prefill = session.Prefill(seq, 0);
        double prefillMs = sw.Elapsed.TotalMilliseconds;
        long rssPrefill = ProcessMemory.Resident, peak = ProcessMemory.PeakResident;
        long kv = session.Cache!.BytesInUse;
        double bound = 1.15 * (weights + kv);

        Console.WriteLine($"| model | {model} |");
        Console.WriteLine("|---|---|");
        Console.WriteLine($"| threads | {ctx.Threads} |");
        Console.WriteLine($"| weights (stored dtype) | {Gib(weights)} |");
        Console.WriteLine($"| KV cache after {seq.Length}-token prefill (float32) | {Gib(kv)} |");
        Console.WriteLine($"| RSS before load | {Gib(rss0)} |");
        Console.WriteLine($"| RSS after load ({loadMs:F0} ms) | {Gib(rssLoad)} |");
        Console.WriteLine($"| RSS after vision ({visionMs / 1000:F1} s) + prefill ({prefillMs / 1000:F1} s) | {Gib(rssPrefill)} |");
        Console.WriteLine($"| peak RSS (VmHWM) | {Gib(peak)} |");
        Console.WriteLine($"| bound 1.15 × (weights + KV) | {Gib((long)bound)} |");
        Console.WriteLine($"| peak RSS / (weights + KV) | {(double)peak / (weights + kv):F3} |");
        Console.WriteLine($"| within bound | {(peak <= bound ? "yes" : "NO")} |");
        Console.WriteLine($"| prefill throughput | {seq.Length / (prefillMs / 1000):F1} tokens/s |");
        GC.KeepAlive(prefill);
        return peak <= bound ? 0 : 1;
    }

    static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F3} GiB";
}
