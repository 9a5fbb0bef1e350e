using System.CommandLine;
using TokenSieve.Evaluation;
using TokenSieve.Numerics;

namespace TokenSieve.Cli.Commands;

/// <summary>The options of `tokensieve bench --speed` and their mapping onto the library's
/// <see cref="Evaluation.SpeedHarness"/>.</summary>
public sealed class SpeedCommandOptions
{
    public Option<int> Runs { get; } = new("--runs") { Description = "--speed: timed runs per configuration (after one warm-up)", DefaultValueFactory = _ => 3 };
    public Option<int> TextTokens { get; } = new("--text-tokens") { Description = "--speed: text tokens around the image (LLaVA-1.5 prompts: ~64)", DefaultValueFactory = _ => 64 };
    public Option<int> DecodeTokens { get; } = new("--decode-tokens") { Description = "--speed: tokens to decode after the prefill", DefaultValueFactory = _ => 8 };
    public Option<string?> Csv { get; } = new("--csv") { Description = "--speed: also write the table as CSV here" };
    public Option<string?> Markdown { get; } = new("--md") { Description = "--speed: also write the Markdown table here" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Runs);
        cmd.Options.Add(TextTokens);
        cmd.Options.Add(DecodeTokens);
        cmd.Options.Add(Csv);
        cmd.Options.Add(Markdown);
    }

    /// <summary>Runs the harness and prints (and optionally writes) the table.</summary>
    public int Run(ParseResult p, string? modelDir, IReadOnlyList<string> methods, IReadOnlyList<int> budgets, int threads, string attention, CancellationToken cancel,
        string? weights = null)
    {
        AttentionMode[] modes = attention.ToLowerInvariant() == "both" ? [AttentionMode.Fused, AttentionMode.Eager] : [CommonOptions.ParseAttention(attention)];
        if (modelDir is null) throw new InvalidInputException("--speed needs --model (make one with `tokensieve synth --shape tiny-1b --out DIR`)");
        var compute = CommonOptions.Compute(threads);
        using var m = CommonOptions.LoadModel(modelDir, false, weights, compute);
        var options = new SpeedOptions
        {
            Methods = methods, Budgets = budgets.Count > 0 ? budgets : [192, 128, 64],
            Runs = p.GetValue(Runs), TextTokens = p.GetValue(TextTokens), DecodeTokens = p.GetValue(DecodeTokens), AttentionModes = modes,
        };
        var report = SpeedHarness.Run(m, compute, options, new Progress<string>(Console.WriteLine), cancel);
        string md = report.ToMarkdown();
        Console.WriteLine();
        Console.Write(md);
        if (p.GetValue(Markdown) is { } mdPath) File.WriteAllText(mdPath, md);
        if (p.GetValue(Csv) is { } csvPath) File.WriteAllText(csvPath, report.ToCsv());
        return 0;
    }
}
