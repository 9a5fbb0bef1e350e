namespace TokenSieve.Evaluation;

/// <summary>MMBench tsv (<c>mmbench_dev_20230712.tsv</c>): header <c>index, question, hint, A, B, C, D,
/// answer, category, image, [source, l2-category, comment, split]</c>; the image is base64 (or, in
/// circular files, the index of the row holding it). Rows with <c>index ≥ 1e6</c> are rotated copies
/// scored together with <c>index % 1e6</c>. Image bytes are returned undecoded.</summary>
internal static class MmBenchReader
{
    public const string Task = "mmbench";
    /// <summary>MMBench-CN: the same tsv layout in Chinese (mmbench_dev_cn_20231003.tsv).</summary>
    public const string TaskCn = "mmbench_cn";
    /// <summary>LLaVA's <c>--lang cn</c> single-prediction suffix.</summary>
    public const string OptionLetterCn = "请直接回答选项字母。";
    /// <summary>lmms-eval's mmbench_cn post-prompt.</summary>
    public const string OptionLetterCnLmms = "请直接使用所提供的选项字母作为答案回答。";

    static readonly string[] OptionColumns = ["A", "B", "C", "D"];

    /// <param name="generateRotations">When the file has no rotated copies, add them as LLaVA's
    /// <c>--all-rounds</c> does: options shifted left by 1, 2, … with the answer letter following its text,
    /// at index <c>k·1e6 + index</c>.</param>
    public static EvalDataset Read(string tsvPath, PromptStyle style = PromptStyle.Llava, bool generateRotations = false, CancellationToken ct = default) =>
        Read(tsvPath, style, generateRotations, chinese: false, ct);

    /// <param name="chinese">MMBench-CN: task <c>mmbench_cn</c> and the Chinese answer-with-the-letter suffix.</param>
    public static EvalDataset Read(string tsvPath, PromptStyle style, bool generateRotations, bool chinese, CancellationToken ct = default)
    {
        string task = chinese ? TaskCn : Task;
        if (!File.Exists(tsvPath)) throw new DatasetException(tsvPath, "file not found");
        var issues = new List<ReadIssue>();
        using var reader = new StreamReader(tsvPath);
        using var records = TsvReader.Read(reader).GetEnumerator();
        if (!records.MoveNext()) throw new DatasetException(tsvPath, "empty file");
        var header = records.Current.Fields.Select(h => h.Trim()).ToList();
        int Col(string name) => header.FindIndex(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
        int iIndex = Col("index"), iQuestion = Col("question"), iHint = Col("hint"), iAnswer = Col("answer"),
            iCategory = Col("category"), iImage = Col("image"), iL2 = Col("l2-category");
        int[] iOptions = OptionColumns.Select(Col).ToArray();
        if (iIndex < 0 || iQuestion < 0 || iImage < 0 || iOptions[0] < 0)
            throw new DatasetException(tsvPath, "header must have index, question, A and image columns");

        // Images are decoded as rows are read (the dev tsv holds ~200 MB of base64); a short numeric field
        // refers to another row's image and is resolved afterwards.
        var rows = new List<(int Line, long Index, string Question, string? Hint, List<string> Options, string? Answer, string? Category, string? L2, long? ImageRef)>();
        var images = new Dictionary<long, byte[]>();
        while (records.MoveNext())
        {
            ct.ThrowIfCancellationRequested();
            var (line, f) = records.Current;
            if (f.Count != header.Count)
            {
                issues.Add(new ReadIssue(tsvPath, line, $"{f.Count} fields, header has {header.Count}"));
                continue;
            }
            if (!long.TryParse(f[iIndex].Trim(), out long index))
            {
                issues.Add(new ReadIssue(tsvPath, line, $"index '{f[iIndex]}' is not an integer"));
                continue;
            }
            var options = new List<string>();
            foreach (int io in iOptions)
            {
                if (io < 0 || IsNone(f[io])) break;   // options are contiguous from A, as LLaVA's get_options reads them
                options.Add(f[io]);
            }
            string? answer = iAnswer >= 0 && !IsNone(f[iAnswer]) ? f[iAnswer].Trim() : null;
            if (options.Count < 2 || (answer is not null && (answer.Length != 1 || answer[0] - 'A' >= options.Count || answer[0] < 'A')))
            {
                issues.Add(new ReadIssue(tsvPath, line, $"needs at least options A and B and an answer among them (answer '{answer}')"));
                continue;
            }
            string image = f[iImage].Trim();
            long? imageRef = null;
            if (IsReference(image)) imageRef = long.Parse(image);
            else
            {
                try { images[index] = Convert.FromBase64String(image); }
                catch (FormatException)
                {
                    issues.Add(new ReadIssue(tsvPath, line, "image is not valid base64"));
                    continue;
                }
            }
            rows.Add((line, index, f[iQuestion], iHint >= 0 && !IsNone(f[iHint]) ? f[iHint] : null, options, answer,
                iCategory >= 0 ? f[iCategory] : null, iL2 >= 0 && !IsNone(f[iL2]) ? f[iL2] : null, imageRef));
        }
        bool hasRotations = rows.Any(r => r.Index >= MmBenchScorer.CircularStride);
        var items = new List<EvalItem>();
        var seen = new HashSet<long>();
        foreach (var r in rows)
        {
            byte[]? bytes = images.GetValueOrDefault(r.ImageRef ?? r.Index);
            if (bytes is null)
            {
                issues.Add(new ReadIssue(tsvPath, r.Line, $"image refers to row {r.ImageRef}, which has no image"));
                continue;
            }
            if (!seen.Add(r.Index))
            {
                issues.Add(new ReadIssue(tsvPath, r.Line, $"duplicate index {r.Index}"));
                continue;
            }
            int rounds = generateRotations && !hasRotations ? r.Options.Count : 1;
            for (int k = 0; k < rounds; k++)
            {
                var options = r.Options.Skip(k).Concat(r.Options.Take(k)).ToList();
                string? answer = r.Answer is null ? null : ((char)('A' + (r.Answer[0] - 'A' - k + options.Count) % options.Count)).ToString();
                long index = r.Index + k * MmBenchScorer.CircularStride;
                var extra = new Dictionary<string, string>();
                if (r.L2 is not null) extra["l2-category"] = r.L2;
                items.Add(new EvalItem
                {
                    Task = task, QuestionId = index.ToString(), SourceId = index.ToString(), Question = r.Question,
                    Prompt = BuildPrompt(r.Question, r.Hint, options, style, chinese), ImageBytes = bytes,
                    Answers = answer is null ? [] : [answer], Choices = options, Category = r.Category,
                    Group = (index % MmBenchScorer.CircularStride).ToString(), Extra = extra,
                });
            }
        }
        return new EvalDataset
        {
            Task = task, Kind = TaskKind.MmBench, Items = items, Issues = issues,
            Settings = JsonLines.Settings(("prompt", style == PromptStyle.Llava ? "llava" : "lmms-eval"),
                ("rotations", hasRotations ? "file" : generateRotations ? "generated" : "none")),
        };
    }

    /// <summary>LLaVA <c>model_vqa_mmbench</c>: "hint\nquestion\nA. …\nB. …\n" + letter suffix. lmms-eval:
    /// "hint question There are several options:\nA. …" + "\n" + letter suffix.</summary>
    internal static string BuildPrompt(string question, string? hint, IReadOnlyList<string> options, PromptStyle style, bool chinese = false)
    {
        if (style == PromptStyle.Llava)
        {
            string q = hint is null ? question : hint + "\n" + question;
            return q + "\n" + Prompts.OptionLines(options) + "\n" + (chinese ? OptionLetterCn : Prompts.OptionLetter);
        }
        string head = hint is null ? question : $"{hint} {question}";
        return chinese
            ? $"{head}\n{Prompts.OptionLines(options)}\n{OptionLetterCnLmms}"
            : $"{head} There are several options:\n{Prompts.OptionLines(options)}\n{Prompts.OptionLetter}";
    }

    static bool IsNone(string s) => string.IsNullOrWhiteSpace(s) || s.Trim() is "nan" or "NaN" or "None";

    static bool IsReference(string image) => image.Length is > 0 and <= 64 && image.All(char.IsAsciiDigit);
}
