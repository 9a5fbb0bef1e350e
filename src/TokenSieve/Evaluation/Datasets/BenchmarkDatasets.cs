namespace TokenSieve.Evaluation;

/// <summary>Reader options that change prompts or which items are read; every one that changes scores
/// ends up in <see cref="EvalDataset.Settings"/>.</summary>
public sealed record DatasetOptions
{
    public PromptStyle Prompt { get; init; } = PromptStyle.Llava;

    /// <summary>TextVQA: add "Reference OCR token: …" lines (LLaVA-1.5's reported setting). Off by default,
    /// as in lmms-eval.</summary>
    public bool OcrTokens { get; init; }

    /// <summary>ScienceQA: keep only questions with an image (SQA-IMG).</summary>
    public bool ImageOnly { get; init; } = true;

    /// <summary>ScienceQA split in problems.json / pid_splits.json.</summary>
    public string Split { get; init; } = "test";

    /// <summary>MMBench: create option rotations when the tsv has none.</summary>
    public bool GenerateRotations { get; init; }
}

/// <summary>Opens a standard benchmark by task name from the files a user has on disk — the entry point
/// for the CLI's <c>bench</c>/<c>score</c> verbs.</summary>
public static class BenchmarkDatasets
{
    public static readonly IReadOnlyList<string> Names = ["pope", "gqa", "textvqa", "mme", "scienceqa_img", "mmbench"];

    /// <param name="task">One of <see cref="Names"/> ("scienceqa" and "sqa" are accepted too).</param>
    /// <param name="annotations">pope: a question file or a folder of coco_pope_*.json; gqa: the questions json;
    /// textvqa: the val json; mme: the release folder (images inside); scienceqa: problems.json (pid_splits.json
    /// beside it is used when present) or LLaVA's llava_test_CQM-A.json (problems.json beside it gives the
    /// answers); mmbench: the tsv (images inside).</param>
    /// <param name="images">Image folder (pope, gqa, textvqa, scienceqa); ignored for mme and mmbench. May be null
    /// when the dataset is only scored: image paths then stay relative, as the annotation file has them.</param>
    public static EvalDataset Load(string task, string annotations, string? images, DatasetOptions? options = null, CancellationToken ct = default)
    {
        options ??= new DatasetOptions();
        string Images() => images ?? "";
        switch (task.ToLowerInvariant())
        {
            case "pope":
                return Directory.Exists(annotations)
                    ? PopeReader.ReadFolder(annotations, Images(), ct)
                    : PopeReader.ReadFile(annotations, Images(), null, ct);
            case "gqa":
                return GqaReader.Read(annotations, Images(), ct);
            case "textvqa":
                return TextVqaReader.Read(annotations, Images(), options.OcrTokens, ct);
            case "mme":
                return MmeReader.ReadFolder(annotations, options.Prompt, ct);
            case "scienceqa_img" or "scienceqa" or "sqa":
            {
                string dir = Path.GetDirectoryName(Path.GetFullPath(annotations))!;
                if (Path.GetFileName(annotations) == "problems.json")
                {
                    string splits = Path.Combine(dir, "pid_splits.json");
                    return ScienceQaReader.ReadProblems(annotations, Images(), options.Split, File.Exists(splits) ? splits : null, options.ImageOnly, ct);
                }
                string problems = Path.Combine(dir, "problems.json");
                return ScienceQaReader.ReadLlavaQuestions(annotations, Images(), File.Exists(problems) ? problems : null, options.ImageOnly, ct);
            }
            case "mmbench":
                return MmBenchReader.Read(annotations, options.Prompt, options.GenerateRotations, ct);
            default:
                throw new EvaluationException($"unknown task '{task}'; expected one of {string.Join(", ", Names)}");
        }
    }
}
