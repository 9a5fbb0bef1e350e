namespace TokenSieve.Evaluation;

/// <summary>POPE question files: JSON lines <c>{question_id, image, text, label|answer[, category]}</c>,
/// one file per split (<c>coco_pope_random.json</c>, …) or LLaVA's combined
/// <c>llava_pope_test.jsonl</c> whose <c>category</c> names the split.</summary>
internal static class PopeReader
{
    public const string Task = "pope";

    /// <summary>Reads every <c>coco_pope_{split}.json[l]</c> in <paramref name="annotationFolder"/>, splits in
    /// ordinal order.</summary>
    public static EvalDataset ReadFolder(string annotationFolder, string imageFolder, CancellationToken ct = default)
    {
        if (!Directory.Exists(annotationFolder)) throw new DatasetException(annotationFolder, "folder not found");
        var files = Directory.GetFiles(annotationFolder, "coco_pope_*.json*")
            .Where(f => f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(".jsonl", StringComparison.Ordinal))
            .OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => (SplitFromFileName(f), f))
            .ToList();
        if (files.Count == 0) throw new DatasetException(annotationFolder, "no coco_pope_*.json files");
        return Read(files, imageFolder, ct);
    }

    /// <summary>Reads one question file. <paramref name="split"/> names its split when its lines have no
    /// <c>category</c>; when null, the split comes from the file name (<c>coco_pope_{split}</c>) or is "all".</summary>
    public static EvalDataset ReadFile(string questionFile, string imageFolder, string? split = null, CancellationToken ct = default) =>
        Read([(split ?? SplitFromFileName(questionFile), questionFile)], imageFolder, ct);

    /// <summary>Reads several (split, file) pairs into one task.</summary>
    public static EvalDataset Read(IEnumerable<(string Split, string File)> splitFiles, string imageFolder, CancellationToken ct = default)
    {
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (fileSplit, file) in splitFiles)
        {
            foreach (var (line, obj) in JsonLines.Read(file, issues, ct))
            {
                string? id = JsonLines.Text(obj, "question_id");
                string? image = JsonLines.Text(obj, "image");
                string? text = JsonLines.Text(obj, "text", "question");
                string? label = JsonLines.Text(obj, "label", "answer")?.Trim().ToLowerInvariant();
                if (id is null || image is null || text is null || label is null)
                {
                    issues.Add(new ReadIssue(file, line, "missing one of question_id, image, text, label"));
                    continue;
                }
                if (label is not ("yes" or "no"))
                {
                    issues.Add(new ReadIssue(file, line, $"label '{label}' is neither yes nor no"));
                    continue;
                }
                string? category = JsonLines.Text(obj, "category");
                string split = category ?? fileSplit;
                // LLaVA's combined file has unique ids; the per-split files each start at 1.
                string questionId = category is not null ? id : $"{split}/{id}";
                if (!seen.Add(questionId))
                {
                    issues.Add(new ReadIssue(file, line, $"duplicate question_id '{questionId}'"));
                    continue;
                }
                items.Add(new EvalItem
                {
                    Task = Task, QuestionId = questionId, SourceId = id, Question = StripSuffix(text),
                    Prompt = Prompts.WithSuffix(text, Prompts.ShortAnswer),
                    ImagePath = Path.Combine(imageFolder, image), Answers = [label], Category = split,
                });
            }
        }
        return new EvalDataset { Task = Task, Kind = TaskKind.Pope, Items = items, Issues = issues };
    }

    internal static string SplitFromFileName(string path)
    {
        string name = Path.GetFileNameWithoutExtension(path);
        return name.StartsWith("coco_pope_", StringComparison.Ordinal) ? name["coco_pope_".Length..] : "all";
    }

    internal static string StripSuffix(string text)
    {
        int i = text.IndexOf("\n" + Prompts.ShortAnswer, StringComparison.Ordinal);
        return i >= 0 ? text[..i] : text;
    }
}
