using TokenSieve.Evaluation;
using System.Diagnostics;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Reduction;
using TokenSieve.Methods;

namespace TokenSieve.Bench.Reduction;

/// <summary>The vision tower's forward time (to the feature layer, plus the taps PruMerge needs), so
/// reduction times can be read next to it. Use a synthetic CLIP-L/14-336 checkpoint
/// (`tokensieve synth --shape tiny-1b`).</summary>
public static class VisionForwardTiming
{
    public static void Run(string modelDir, int threads, int runs = 3)
    {
        var ctx = new ComputeContext(threads);
        using var m = LlavaModel.Load(modelDir);
        var cfg = m.Config.Vision;
        var rng = new Random(5);
        var pixels = new float[cfg.NumChannels * cfg.ImageSize * cfg.ImageSize];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (float)(rng.NextDouble() * 2 - 1);
        var prumerge = MethodCatalog.ParseVision("prumerge");
        foreach (var (label, withTaps) in new[] { ("features only", false), ("features + next-layer q/k (PruMerge)", true) })
        {
            IVisionHook? Taps() => withTaps ? new VisionTapCollector(prumerge, m.Vision.Info) : null;
            m.Vision.Forward(ctx, pixels, Taps()); // warm-up
            var times = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                var hook = Taps();
                var sw = Stopwatch.StartNew();
                m.Vision.Forward(ctx, pixels, hook);
                times.Add(sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"| vision tower {cfg.ImageSize}px, {cfg.NumHiddenLayers} layers x {cfg.HiddenSize}, {label} | {SampleStats.MedianWithRange(times)} ms (median, min–max), {ctx.Threads} thread(s) |");
        }
    }
}
