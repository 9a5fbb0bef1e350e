using System.CommandLine;
using TokenSieve.Evaluation;
using TokenSieve.Numerics;

namespace TokenSieve.Cli.Commands;

/// <summary>The options of `tokensieve bench --speed` and their mapping onto the library's
/// <see cref="Evaluation.SpeedHarness"/>.</summary>
public sealed class SpeedCommandOptions
{
    public Option<int> Runs { get; } = new Option<int>("--runs") { Description = "--speed: timed runs per configuration (after one warm-up)", DefaultValueFactory = _ => 3 }.Range(1, 1000);
    public Option<int> TextTokens { get; } = new Option<int>("--text-tokens") { Description = "--speed: text tokens around the image (LLaVA-1.5 prompts: ~64)", DefaultValueFactory = _ => 64 }.Range(2, 1 << 20);
    public Option<int> DecodeTokens { get; } = new Option<int>("--decode-tokens") { Description = "--speed: tokens to decode after the prefill", DefaultValueFactory = _ => 8 }.Range(0, 1 << 16);
    public Option<int> Frames { get; } = new Option<int>("--frames") { Description = "--speed on Video-LLaVA: frames of the measured video (0: an image)", DefaultValueFactory = _ => 8 }.Range(0, Imaging.VideoFrames.MaxFrames);
    public Option<string> VisionBudget { get; } = CommonOptions.VisionBudget();
    public Option<string?> Csv { get; } = new("--csv") { Description = "--speed: also write the table as CSV here" };
    public Option<string?> Markdown { get; } = new("--md") { Description = "--speed: also write the Markdown table here" };
    public Option<int?> ImageSize { get; } = new("--image-size") { Description = "--speed, Qwen2-VL: side in px of the random square image before its resize rules (default 672: 576 visual tokens)" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Runs);
        cmd.Options.Add(TextTokens);
        cmd.Options.Add(DecodeTokens);
        cmd.Options.Add(Frames);
        cmd.Options.Add(VisionBudget);
        cmd.Options.Add(Csv);
        cmd.Options.Add(Markdown);
        cmd.Options.Add(ImageSize);
    }

    /// <summary>Runs the harness and prints (and optionally writes) the table.</summary>
    public int Run(ParseResult p, string? modelDir, IReadOnlyList<string> methods, IReadOnlyList<int> budgets, int threads, string attention, CancellationToken cancel,
        string? weights = null)
    {
        AttentionMode[] modes = attention.ToLowerInvariant() == "both" ? [AttentionMode.Fused, AttentionMode.Eager] : [CommonOptions.ParseAttention(attention)];
        if (modelDir is null) throw new InvalidInputException("--speed needs --model (make one with `tokensieve synth --shape tiny-1b --out DIR`)");
        var compute = CommonOptions.Compute(threads);
        var options = new SpeedOptions
        {
            Methods = methods, Budgets = budgets.Count > 0 ? budgets : [192, 128, 64],
            Runs = p.GetValue(Runs), TextTokens = p.GetValue(TextTokens), DecodeTokens = p.GetValue(DecodeTokens), AttentionModes = modes, ImageSize = p.GetValue(ImageSize),
            VisionBudget = CommonOptions.ParseVisionBudget(p.GetValue(VisionBudget)!),
            Frames = p.GetValue(Frames) is int f and >= 0 and <= Imaging.VideoFrames.MaxFrames ? f : throw new InvalidInputException($"--frames must be 0..{Imaging.VideoFrames.MaxFrames}, got {p.GetValue(Frames)}"),
        };
        var report = Qwen2VlCommands.Is(modelDir) ? Qwen2VlCommands.Speed(modelDir, compute, options, cancel, weights) : LlavaSpeed(modelDir, compute, options, weights, cancel);
        string md = report.ToMarkdown();
        Console.WriteLine();
        Console.Write(md);
        if (p.GetValue(Markdown) is { } mdPath) File.WriteAllText(mdPath, md);
        if (p.GetValue(Csv) is { } csvPath) File.WriteAllText(csvPath, report.ToCsv());
        return 0;
    }

    static SpeedReport LlavaSpeed(string modelDir, Numerics.ComputeContext compute, SpeedOptions options, string? weights, CancellationToken cancel)
    {
        using var m = CommonOptions.LoadModel(modelDir, false, weights, compute);
        return SpeedHarness.Run(m, compute, options, ConsoleProgress.Instance, cancel);
    }
}
