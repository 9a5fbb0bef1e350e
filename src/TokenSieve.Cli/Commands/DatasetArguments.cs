using System.CommandLine;
using TokenSieve.Evaluation;
using TokenSieve.Lab.Evaluation;
using TokenSieve.Lab.Scenes;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>The options that choose what to evaluate on, shared by `bench` and `rethink`: a benchmark
/// (--task --data [--images]) and/or the built-in lab suites (--suite lab).</summary>
public sealed class DatasetArguments
{
    public Option<string?> Task { get; } = new("--task") { Description = "benchmark: " + string.Join(", ", BenchmarkDatasets.Names) };
    public Option<string?> Data { get; } = new("--data") { Description = "annotation file or folder of the benchmark (formats: docs/EVALUATION.md)" };
    public Option<string?> Images { get; } = new("--images") { Description = "image folder of the benchmark" };
    public Option<bool> OcrTokens { get; } = new("--ocr-tokens") { Description = "TextVQA: add the reference OCR tokens to the prompt (LLaVA-1.5's setting)" };
    public Option<string?> Suite { get; } = new("--suite") { Description = "built-in suites: 'lab' (the lab question families on generated scenes; model defaults to models/lab)" };
    public Option<string> Split { get; } = new("--split") { Description = "lab split: test or validation (default test); RefCOCO family: val, testA, testB (RefCOCOg: val, test; default val)", DefaultValueFactory = _ => "test" };
    public Option<int> PerSuite { get; } = new Option<int>("--per-suite") { Description = "lab items per suite (existence has three suites: random, popular, adversarial)", DefaultValueFactory = _ => 50 }.Range(1, 1_000_000);
    public Option<string?> Families { get; } = new("--families") { Description = "lab families, comma-separated (default all): " + string.Join(", ", LabEvalDatasets.Families) };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Task, Data, Images, OcrTokens, Suite, Split, PerSuite, Families }) cmd.Options.Add(o);
    }

    /// <summary>Whether the lab suites were asked for (the model then defaults to the built-in one).</summary>
    public bool IsLab(ParseResult p) => p.GetValue(Suite) is not null;

    /// <summary>The datasets, with malformed entries reported on stderr; a short name for reports.</summary>
    public (List<EvalDataset> Datasets, string Name) Load(ParseResult p, CancellationToken cancel)
    {
        var datasets = new List<EvalDataset>();
        var names = new List<string>();
        if (p.GetValue(Suite) is { } suiteName)
        {
            if (suiteName != "lab") throw new InvalidInputException($"--suite '{suiteName}' is unknown (lab)");
            var labSplit = p.GetValue(Split)!.ToLowerInvariant() switch
            {
                "test" => LabSplit.Test,
                "validation" => LabSplit.Validation,
                var other => throw new InvalidInputException($"--split must be test or validation, got '{other}' (the train split is never evaluated)"),
            };
            datasets.AddRange(LabEvalDatasets.Load(labSplit, p.GetValue(PerSuite), p.GetValue(Families)?.Split(','), cancel: cancel));
            names.Add($"lab suites ({labSplit.ToString().ToLowerInvariant()} split, {p.GetValue(PerSuite)} per suite)");
        }
        if (p.GetValue(Task) is { } t)
        {
            string ann = p.GetValue(Data) ?? throw new InvalidInputException("--task needs --data (the annotation file or folder)");
            string? benchSplit = p.GetResult(Split) is { Implicit: false } ? p.GetValue(Split) : null;
            if (benchSplit is not null && IsLab(p)) benchSplit = null;   // --split then names the lab split
            datasets.Add(BenchmarkDatasets.Load(t, ann, p.GetValue(Images), new DatasetOptions { OcrTokens = p.GetValue(OcrTokens), BenchmarkSplit = benchSplit }, cancel));
            names.Add(t);
        }
        if (datasets.Count == 0) throw new InvalidInputException("nothing to run: give --task with --data, or --suite lab");
        foreach (var ds in datasets)
            if (ds.Skipped > 0) Console.Error.WriteLine($"{ds.Task}: skipped {ds.Skipped} malformed entries (first: {ds.Issues[0]})");
        return (datasets, string.Join(" + ", names));
    }

    /// <summary>The lab model is trained on llava-hf's template: use it unless one was given.</summary>
    public string Template(ParseResult p, Option<string> template) =>
        IsLab(p) && p.GetResult(template) is null or { Implicit: true } ? ChatTemplate.LlavaHf.Name : p.GetValue(template)!;
}
