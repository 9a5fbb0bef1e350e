namespace TokenSieve.Evaluation;

/// <summary>Which scorer a task's predictions go through. Lab suites pick the kind whose metric
/// fits their questions (existence → <see cref="Pope"/>, counting/attributes → <see cref="ExactMatch"/>).</summary>
public enum TaskKind
{
    /// <summary>Yes/no with negatives sampled per split; accuracy, precision, recall, F1 per split, mean F1.</summary>
    Pope,
    /// <summary>GQA: exact string match after LLaVA's <c>rstrip('.').lower()</c>.</summary>
    Gqa,
    /// <summary>TextVQA: VQA soft accuracy over 10 human answers with the EvalAI normaliser.</summary>
    TextVqa,
    /// <summary>MME: acc + acc+ per subtask, perception and cognition sums.</summary>
    Mme,
    /// <summary>ScienceQA-IMG: LLaVA's letter extraction, IMG-accuracy.</summary>
    ScienceQa,
    /// <summary>MMBench: CircularEval with the static (no GPT judge) choice extraction.</summary>
    MmBench,
    /// <summary>Generic short answer: lowercase, trailing periods stripped, exact match against any answer.</summary>
    ExactMatch,
    /// <summary>VQAv2, VizWiz: VQA soft accuracy over the human answers (as TextVQA).</summary>
    Vqa,
    /// <summary>Yes/no accuracy with LLaVA's yes/no parsing, per category (Visual Haystack: per number of images).</summary>
    YesNo,
    /// <summary>A box answer (RefCOCO family, lab grounding): Acc@IoU≥0.5 in LLaVA's padded-square
    /// convention, mean IoU, parse failures counted (<see cref="GroundingScorer"/>).</summary>
    Grounding,
}

/// <summary>One question of a benchmark or lab suite, ready to be answered.</summary>
public sealed record EvalItem
{
    /// <summary>Task name ("pope", "gqa", "textvqa", "mme", "scienceqa_img", "mmbench", or a lab suite's).</summary>
    public required string Task { get; init; }

    /// <summary>Unique within the task; the runner's resume key uses it.</summary>
    public required string QuestionId { get; init; }

    /// <summary>The id as the source file spells it (LLaVA answer files use it; may repeat, as in MME).</summary>
    public string? SourceId { get; init; }

    /// <summary>The bare question as in the source file.</summary>
    public required string Question { get; init; }

    /// <summary>The user text sent to the model after the image (suffixes, options, OCR lines included).</summary>
    public required string Prompt { get; init; }

    /// <summary>Path of the image file, when the image lives on disk.</summary>
    public string? ImagePath { get; init; }

    /// <summary>Several images, in prompt order (Visual Haystack); each gets its own
    /// <c>&lt;image&gt;</c> placeholder before the question. Empty for single-image items.</summary>
    public IReadOnlyList<string> ImagePaths { get; init; } = [];

    /// <summary>Encoded image bytes (PNG/JPEG) when the image is embedded in the dataset (MMBench).
    /// Decoding is the imaging layer's job.</summary>
    public ReadOnlyMemory<byte>? ImageBytes { get; init; }

    /// <summary>Ground-truth answers: one for most tasks, ten for TextVQA, the option letter for
    /// multiple choice.</summary>
    public required IReadOnlyList<string> Answers { get; init; }

    /// <summary>Multiple-choice options in letter order (A, B, …); empty otherwise.</summary>
    public IReadOnlyList<string> Choices { get; init; } = [];

    /// <summary>POPE split, MME subtask, MMBench category, ScienceQA subject.</summary>
    public string? Category { get; init; }

    /// <summary>Items scored together: the image for MME's acc+, the base index for MMBench's
    /// circular rotations.</summary>
    public string? Group { get; init; }

    /// <summary>Earlier turns of the same conversation about the same image (METHODS.md §15.5): asked
    /// first, in order, on the same KV cache; this item is the last turn. Empty for single questions.
    /// Each earlier turn is an item of its own task, so its answer is recorded and scored too.</summary>
    public IReadOnlyList<EvalItem> Prior { get; init; } = [];

    /// <summary>Other fields a scorer or report needs (MMBench l2-category, ScienceQA has-image flag).</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = EmptyExtra;

    internal static readonly IReadOnlyDictionary<string, string> EmptyExtra = new Dictionary<string, string>();

    public bool HasImage => ImagePath is not null || ImageBytes is not null || ImagePaths.Count > 0;
}

/// <summary>A malformed line or entry a reader skipped: where it was and why.</summary>
public sealed record ReadIssue(string File, int Line, string Reason)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Reason}" : $"{File}: {Reason}";
}

/// <summary>A loaded task: its items, how they are scored, what was skipped while reading, and the
/// settings that change the numbers (prompt style, OCR tokens) so results can record them.</summary>
public sealed record EvalDataset
{
    public required string Task { get; init; }
    public required TaskKind Kind { get; init; }
    public required IReadOnlyList<EvalItem> Items { get; init; }
    public IReadOnlyList<ReadIssue> Issues { get; init; } = [];

    /// <summary>Number of lines or entries skipped because they were malformed.</summary>
    public int Skipped => Issues.Count;

    /// <summary>Settings that change scores, e.g. <c>ocr_tokens=true</c>, <c>prompt=llava</c>.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = EvalItem.EmptyExtra;
}

/// <summary>Where the built-in lab suites (or any other generator) plug into the runner and scorers.</summary>
public interface IEvalDatasetSource
{
    /// <summary>Task name the produced dataset will carry.</summary>
    string Task { get; }

    EvalDataset Load(CancellationToken cancellationToken = default);
}

/// <summary>A dataset file could not be read at all (missing file, not the expected format).
/// Single malformed lines are not errors: readers skip them and list them in
/// <see cref="EvalDataset.Issues"/>.</summary>
public sealed class DatasetException : TokenSieveException
{
    public string? File { get; }

    public DatasetException(string? file, string reason, Exception? inner = null)
        : base($"{file ?? "dataset"}: {reason}", inner) => File = file;
}
