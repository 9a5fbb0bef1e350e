using Spectre.Console;
using TokenSieve.Pipeline;

namespace TokenSieve.Cli;

/// <summary>Prints a <see cref="RunReport"/> as a compact table (run) or as JSON-friendly lines.</summary>
public static class ReportPrinter
{
    public static void Print(RunReport r)
    {
        var t = new Table().Border(TableBorder.Simple).HideHeaders().AddColumn("").AddColumn("");
        void Row(string k, string v) => t.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("reduction", r.Reduction + (r.AdaptiveCount is { } a ? $" (adaptive count {a})" : ""));
        Row("decoder pruning", r.Pruning);
        Row("visual tokens", $"{r.VisualTokens} of {r.VisualTokensBefore}" + (r.PatchesBeforeMerge is { } patches ? $" ({patches} patches before the model's own merge)" : ""));
        Row("prompt tokens", $"{r.PromptTokens} (image at {r.ImageStart})");
        if (r.TokensPerLayer.Distinct().Count() > 1) Row("tokens per decoder layer", string.Join(" ", r.TokensPerLayer));
        Row("time (ms)", $"preprocess {r.PreprocessMs:F1}, vision {r.VisionMs:F1}, reduction {r.ReductionMs:F2}, projector {r.ProjectorMs:F1}, prefill {r.PrefillMs:F1}, first token {r.TimeToFirstTokenMs:F1}, decode {r.DecodeMs:F1}");
        Row("decode", $"{r.GeneratedTokens} tokens, {r.DecodeTokensPerSecond:F1} tokens/s");
        Row("FLOPs", $"vision {CommonOptions.Flops(r.VisionFlops)}, projector {CommonOptions.Flops(r.ProjectorFlops)}, prefill {CommonOptions.Flops(r.PrefillFlops)}");
        Row("KV cache", CommonOptions.Bytes(r.KvCacheBytes));
        Row("threads, attention, weights", $"{r.Threads}, {r.Attention.ToString().ToLowerInvariant()}, {r.Weights}");
        foreach (var n in r.Notes) Row("note", n);
        CliConsole.Out.Write(t);
    }
}
