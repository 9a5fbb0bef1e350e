namespace TokenSieve.Evaluation;

/// <summary>MME (<c>MME_Benchmark_release_version</c>): one folder per subtask holding either
/// <c>images/</c> + <c>questions_answers_YN/</c>, or images and <c>.txt</c> files side by side. A txt file
/// named like its image holds that image's two lines <c>question\tanswer</c>. Files whose lines carry
/// three fields, <c>image\tquestion\tanswer</c> (the eval_tool's per-subtask templates), are read too.</summary>
internal static class MmeReader
{
    public const string Task = "mme";

    static readonly string[] ImageExtensions = [".jpg", ".png", ".jpeg", ".JPG", ".PNG"];

    /// <summary>Reads every subtask folder under <paramref name="releaseFolder"/>, in ordinal order.</summary>
    public static EvalDataset ReadFolder(string releaseFolder, PromptStyle style = PromptStyle.Llava, CancellationToken ct = default)
    {
        if (!Directory.Exists(releaseFolder)) throw new DatasetException(releaseFolder, "folder not found");
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        foreach (string categoryDir in Directory.GetDirectories(releaseFolder).OrderBy(d => d, StringComparer.Ordinal))
        {
            string category = Path.GetFileName(categoryDir);
            bool split = Directory.Exists(Path.Combine(categoryDir, "images"));
            string imageDir = split ? Path.Combine(categoryDir, "images") : categoryDir;
            string qaDir = split ? Path.Combine(categoryDir, "questions_answers_YN") : categoryDir;
            if (!Directory.Exists(qaDir))
            {
                issues.Add(new ReadIssue(categoryDir, 0, "has images/ but no questions_answers_YN/"));
                continue;
            }
            foreach (string txt in Directory.GetFiles(qaDir, "*.txt").OrderBy(f => f, StringComparer.Ordinal))
                ReadTxt(txt, category, releaseFolder, imageDir, style, items, issues, ct);
        }
        if (items.Count == 0 && issues.Count == 0) throw new DatasetException(releaseFolder, "no MME subtask folders with question files");
        return Finish(items, issues, style);
    }

    /// <summary>Reads eval_tool-style files (<c>{subtask}.txt</c>, lines <c>image\tquestion\tanswer</c>);
    /// images are looked up in <paramref name="releaseFolder"/>'s subtask folders.</summary>
    public static EvalDataset ReadTemplates(string templateFolder, string releaseFolder, PromptStyle style = PromptStyle.Llava, CancellationToken ct = default)
    {
        if (!Directory.Exists(templateFolder)) throw new DatasetException(templateFolder, "folder not found");
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        foreach (string txt in Directory.GetFiles(templateFolder, "*.txt").OrderBy(f => f, StringComparer.Ordinal))
        {
            string category = Path.GetFileNameWithoutExtension(txt);
            string categoryDir = Path.Combine(releaseFolder, category);
            string imageDir = Directory.Exists(Path.Combine(categoryDir, "images")) ? Path.Combine(categoryDir, "images") : categoryDir;
            ReadTxt(txt, category, releaseFolder, imageDir, style, items, issues, ct);
        }
        return Finish(items, issues, style);
    }

    static EvalDataset Finish(List<EvalItem> items, List<ReadIssue> issues, PromptStyle style) => new()
    {
        Task = Task, Kind = TaskKind.Mme, Items = items, Issues = issues,
        Settings = JsonLines.Settings(("prompt", style == PromptStyle.Llava ? "llava" : "lmms-eval")),
    };

    static void ReadTxt(string txt, string category, string root, string imageDir, PromptStyle style,
        List<EvalItem> items, List<ReadIssue> issues, CancellationToken ct)
    {
        string stem = Path.GetFileNameWithoutExtension(txt);
        string? pairedImage = null;
        var perImageCount = new Dictionary<string, int>(StringComparer.Ordinal);
        int lineNo = 0;
        foreach (string raw in File.ReadLines(txt))
        {
            ct.ThrowIfCancellationRequested();
            lineNo++;
            string line = raw.Trim();
            if (line.Length == 0) continue;
            string[] f = line.Split('\t');
            string image, question, answer;
            if (f.Length == 2)
            {
                pairedImage ??= ImageFileFor(imageDir, stem);
                if (pairedImage is null)
                {
                    issues.Add(new ReadIssue(txt, lineNo, $"no image named '{stem}' (.jpg/.png) in {imageDir}"));
                    continue;
                }
                (image, question, answer) = (pairedImage, f[0], f[1]);
            }
            else if (f.Length == 3)
                (image, question, answer) = (f[0], f[1], f[2]);
            else
            {
                issues.Add(new ReadIssue(txt, lineNo, $"expected 'question<TAB>answer' or 'image<TAB>question<TAB>answer', found {f.Length} field(s)"));
                continue;
            }
            string gt = answer.Trim();
            if (!gt.Equals("yes", StringComparison.OrdinalIgnoreCase) && !gt.Equals("no", StringComparison.OrdinalIgnoreCase))
            {
                issues.Add(new ReadIssue(txt, lineNo, $"answer '{gt}' is neither Yes nor No"));
                continue;
            }
            string imagePath = Path.Combine(imageDir, image);
            int k = perImageCount.TryGetValue(image, out int c) ? c : 0;
            perImageCount[image] = k + 1;
            string rel = Path.GetRelativePath(root, imagePath).Replace('\\', '/');
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = $"{category}/{image}#{k}", SourceId = rel, Question = question,
                Prompt = BuildPrompt(question, style), ImagePath = imagePath, Answers = [gt],
                Category = MmeScorer.CanonicalSubtask(category), Group = $"{category}/{image}",
            });
        }
    }

    /// <summary>LLaVA keeps MME's " Please answer yes or no." and adds the short-answer line; lmms-eval
    /// removes that sentence first.</summary>
    internal static string BuildPrompt(string question, PromptStyle style) => style == PromptStyle.Llava
        ? question + "\n" + Prompts.ShortAnswer
        : question.Replace("Please answer yes or no.", "").Trim() + "\n" + Prompts.ShortAnswer;

    static string? ImageFileFor(string dir, string stem)
    {
        foreach (string ext in ImageExtensions)
            if (File.Exists(Path.Combine(dir, stem + ext))) return stem + ext;
        return null;
    }
}
