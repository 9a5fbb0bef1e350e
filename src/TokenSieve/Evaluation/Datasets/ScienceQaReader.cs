using System.Text.Json;
using System.Text.RegularExpressions;

namespace TokenSieve.Evaluation;

/// <summary>ScienceQA: <c>problems.json</c> (object keyed by problem id: question, choices, answer index,
/// hint, image, split, subject) with optional <c>pid_splits.json</c>, or LLaVA's question file
/// <c>llava_test_CQM-A.json</c> (list of <c>{id, image?, conversations}</c>) whose prompt is used verbatim.
/// Images are <c>{imageFolder}/{pid}/image.png</c> (ScienceQA's <c>images/test</c> folder) or LLaVA's
/// <c>image</c> field relative to <c>imageFolder</c>. By default only image questions are kept (SQA-IMG).</summary>
internal static partial class ScienceQaReader
{
    public const string Task = "scienceqa_img";

    [GeneratedRegex(@"^[A-E]\. ", RegexOptions.Multiline)]
    private static partial Regex OptionLine();

    /// <summary>Builds prompts from <c>problems.json</c> as LLaVA's converter does: "Context: {hint}\n"
    /// when there is a hint, the question, "A. …\nB. …", then the letter suffix.</summary>
    public static EvalDataset ReadProblems(string problemsJson, string imageFolder, string split = "test",
        string? pidSplitsJson = null, bool imageOnly = true, CancellationToken ct = default)
    {
        var problems = JsonLines.LoadDocument(problemsJson);
        if (problems.ValueKind != JsonValueKind.Object) throw new DatasetException(problemsJson, "expected an object keyed by problem id");
        IEnumerable<string> ids;
        if (pidSplitsJson is not null)
        {
            var splits = JsonLines.LoadDocument(pidSplitsJson);
            var list = splits.ValueKind == JsonValueKind.Object ? JsonLines.Strings(splits, split) : null;
            ids = list ?? throw new DatasetException(pidSplitsJson, $"no '{split}' list");
        }
        else
            ids = problems.EnumerateObject().Where(p => JsonLines.Text(p.Value, "split") == split).Select(p => p.Name).ToList();

        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        int entry = 0;
        foreach (string pid in ids)
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            if (!problems.TryGetProperty(pid, out var p))
            {
                issues.Add(new ReadIssue(problemsJson, entry, $"problem '{pid}' listed in the split is missing"));
                continue;
            }
            string? question = JsonLines.Text(p, "question");
            var choices = JsonLines.Strings(p, "choices");
            bool answerOk = p.TryGetProperty("answer", out var a) && a.ValueKind == JsonValueKind.Number && a.TryGetInt32(out _);
            if (question is null || choices is null || choices.Count is 0 or > 5 || !answerOk || a.GetInt32() < 0 || a.GetInt32() >= choices.Count)
            {
                issues.Add(new ReadIssue(problemsJson, entry, $"problem '{pid}' lacks question, 1–5 choices or a valid answer index"));
                continue;
            }
            string? image = JsonLines.Text(p, "image");
            if (imageOnly && image is null) continue;
            string? hint = JsonLines.Text(p, "hint");
            string prompt = (string.IsNullOrWhiteSpace(hint) ? "" : $"Context: {hint}\n") + question + "\n" + Prompts.OptionLines(choices);
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = pid, SourceId = pid, Question = question,
                Prompt = prompt + "\n" + Prompts.OptionLetter,
                ImagePath = image is null ? null : Path.Combine(imageFolder, pid, image),
                Answers = [((char)('A' + a.GetInt32())).ToString()], Choices = choices,
                Category = JsonLines.Text(p, "subject"),
            });
        }
        return new EvalDataset
        {
            Task = Task, Kind = TaskKind.ScienceQa, Items = items, Issues = issues,
            Settings = JsonLines.Settings(("image_only", imageOnly ? "true" : "false"), ("split", split)),
        };
    }

    /// <summary>LLaVA's question file; the answer comes from <paramref name="problemsJson"/> when given,
    /// otherwise from the file's own gpt turn ("The answer is X." or "X").</summary>
    public static EvalDataset ReadLlavaQuestions(string questionJson, string imageFolder, string? problemsJson = null,
        bool imageOnly = true, CancellationToken ct = default)
    {
        var root = JsonLines.LoadDocument(questionJson);
        if (root.ValueKind != JsonValueKind.Array) throw new DatasetException(questionJson, "expected a JSON list of questions");
        JsonElement? problems = problemsJson is null ? null : JsonLines.LoadDocument(problemsJson);
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        int entry = 0;
        foreach (var q in root.EnumerateArray())
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            string? id = JsonLines.Text(q, "id");
            string? human = null, gpt = null;
            if (q.ValueKind == JsonValueKind.Object && q.TryGetProperty("conversations", out var conv) && conv.ValueKind == JsonValueKind.Array)
                foreach (var turn in conv.EnumerateArray())
                {
                    string? from = JsonLines.Text(turn, "from");
                    if (from == "human") human ??= JsonLines.Text(turn, "value");
                    else if (from == "gpt") gpt ??= JsonLines.Text(turn, "value");
                }
            if (id is null || human is null)
            {
                issues.Add(new ReadIssue(questionJson, entry, "entry lacks id or a human turn"));
                continue;
            }
            string? image = JsonLines.Text(q, "image");
            if (imageOnly && image is null) continue;
            string text = human.Replace("<image>", "").Trim();
            string? answer = null;
            int choiceCount = OptionLine().Matches(text).Count;
            List<string> choices = [];
            if (problems is { } probs && probs.ValueKind == JsonValueKind.Object && probs.TryGetProperty(id, out var p)
                && JsonLines.Strings(p, "choices") is { } cs && p.TryGetProperty("answer", out var a) && a.TryGetInt32(out int ai) && ai >= 0 && ai < cs.Count)
            {
                choices = cs;
                answer = ((char)('A' + ai)).ToString();
            }
            else if (gpt is not null)
                answer = ScienceQaScorer.ExtractLlava(gpt);
            if (answer is null)
            {
                issues.Add(new ReadIssue(questionJson, entry, $"no answer for '{id}' (not in problems.json, gpt turn has no letter)"));
                continue;
            }
            if (choices.Count == 0)
                choices = OptionLine().Matches(text).Select(m => text.Substring(m.Index + 3, LineEnd(text, m.Index) - m.Index - 3)).ToList();
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = id, SourceId = id, Question = text,
                Prompt = Prompts.WithSuffix(text, Prompts.OptionLetter),
                ImagePath = image is null ? null : Path.Combine(imageFolder, image),
                Answers = [answer], Choices = choices.Count > 0 ? choices : Enumerable.Repeat("", Math.Max(choiceCount, 1)).ToList(),
            });
        }
        return new EvalDataset
        {
            Task = Task, Kind = TaskKind.ScienceQa, Items = items, Issues = issues,
            Settings = JsonLines.Settings(("image_only", imageOnly ? "true" : "false"), ("source", "llava_questions")),
        };
    }

    static int LineEnd(string s, int from)
    {
        int nl = s.IndexOf('\n', from);
        return nl < 0 ? s.Length : nl;
    }
}
