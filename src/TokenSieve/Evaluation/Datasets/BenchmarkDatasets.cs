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

    /// <summary>RefCOCO family split (RefCOCO/+: val, testA, testB; RefCOCOg: val, test); default val.</summary>
    public string? BenchmarkSplit { get; init; }
}

/// <summary>Opens a standard benchmark by task name from the files a user has on disk — the entry point
/// for the CLI's <c>bench</c>/<c>score</c> verbs.</summary>
public static class BenchmarkDatasets
{
    public static readonly IReadOnlyList<string> Names =
        ["pope", "gqa", "textvqa", "mme", "scienceqa_img", "mmbench", "mmbench_cn", "vqav2", "vizwiz", "refcoco", "refcoco+", "refcocog", "visual_haystack"];

    /// <param name="task">One of <see cref="Names"/> ("scienceqa" and "sqa" are accepted too).</param>
    /// <param name="annotations">pope: a question file or a folder of coco_pope_*.json; gqa: the questions json;
    /// textvqa: the val json; mme: the release folder (images inside); scienceqa: problems.json (pid_splits.json
    /// beside it is used when present) or LLaVA's llava_test_CQM-A.json (problems.json beside it gives the
    /// answers); mmbench / mmbench_cn: the tsv (images inside); vqav2: the questions or annotations json (the
    /// other beside it); vizwiz: val.json; refcoco / refcoco+ / refcocog: refs(unc|umd|google).p with
    /// instances.json beside it (or their folder); visual_haystack: a visual_haystack_N.json or a folder of them.
    /// Formats with sources: docs/EVALUATION.md.</param>
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
            case "mmbench_cn" or "mmbench-cn":
                return MmBenchReader.Read(annotations, options.Prompt, options.GenerateRotations, chinese: true, ct);
            case "vqav2":
                return Vqav2Reader.Read(annotations, Images(), ct);
            case "vizwiz":
                return VizWizReader.Read(annotations, Images(), ct);
            case "refcoco" or "refcoco+" or "refcocog":
            {
                // A folder (data/refcoco) holds the refs pickle of its usual split scheme.
                string refs = Directory.Exists(annotations)
                    ? Directory.EnumerateFiles(annotations, "refs(*).p").OrderBy(f => f.Contains("(umd)") ? 0 : 1).ThenBy(f => f, StringComparer.Ordinal).FirstOrDefault()
                      ?? throw new DatasetException(annotations, "no refs(...).p file in the folder")
                    : annotations;
                return RefCocoReader.Read(task.ToLowerInvariant(), refs, Images(), options.BenchmarkSplit ?? "val", ct);
            }
            case "visual_haystack" or "vhs":
                return VisualHaystackReader.Read(annotations, Images(), ct);
            default:
                throw new EvaluationException($"unknown task '{task}'; expected one of {string.Join(", ", Names)}");
        }
    }
}
