using System.Globalization;
using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>VQAv2 (visualqa.org, v2 release): <c>v2_OpenEnded_mscoco_{split}_questions.json</c>
/// (<c>{data_subtype, questions: [{image_id, question, question_id}]}</c>) and
/// <c>v2_mscoco_{split}_annotations.json</c> (<c>{annotations: [{question_id, image_id, answers:
/// [{answer, answer_confidence, answer_id}] ×10, multiple_choice_answer, answer_type}]}</c>); images
/// <c>COCO_{data_subtype}_{image_id:012}.jpg</c>. Either file (or their folder) may be given; the
/// other is found beside it. Questions without annotations (test-dev) have no answers and are
/// counted as unscorable. LLaVA's short-answer prompt; VQA accuracy (min(#humans/3, 1), averaged
/// over the 10 leave-one-out subsets, EvalAI normalisation).</summary>
internal static class Vqav2Reader
{
    public const string Task = "vqav2";

    public static EvalDataset Read(string path, string imageFolder, CancellationToken ct = default)
    {
        string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        string? Find(string pattern, string? given) => given is not null && File.Exists(given) && Path.GetFileName(given).Contains(pattern, StringComparison.Ordinal) ? given
            : Directory.EnumerateFiles(dir, $"*{pattern}*.json").OrderBy(f => f, StringComparer.Ordinal).FirstOrDefault();
        string questionsPath = Find("questions", File.Exists(path) ? path : null) ?? throw new DatasetException(path, "no *questions*.json (v2_OpenEnded_mscoco_*_questions.json) found");
        string? annotationsPath = Find("annotations", File.Exists(path) ? path : null);
        var q = JsonLines.LoadDocument(questionsPath);
        if (q.ValueKind != JsonValueKind.Object || !q.TryGetProperty("questions", out var questions) || questions.ValueKind != JsonValueKind.Array)
            throw new DatasetException(questionsPath, "expected an object with a 'questions' array");
        string subtype = JsonLines.Text(q, "data_subtype") ?? "val2014";
        var answers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var issues = new List<ReadIssue>();
        if (annotationsPath is not null)
        {
            var a = JsonLines.LoadDocument(annotationsPath);
            if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("annotations", out var anns) || anns.ValueKind != JsonValueKind.Array)
                throw new DatasetException(annotationsPath, "expected an object with an 'annotations' array");
            int n = 0;
            foreach (var e in anns.EnumerateArray())
            {
                n++;
                var list = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("answers", out var arr) && arr.ValueKind == JsonValueKind.Array
                    ? arr.EnumerateArray().Select(x => JsonLines.Text(x, "answer")).Where(s => s is not null).Select(s => s!).ToList() : null;
                if (JsonLines.Text(e, "question_id") is not { } qid || list is null || list.Count == 0)
                {
                    issues.Add(new ReadIssue(annotationsPath, n, "annotation lacks question_id or answers"));
                    continue;
                }
                answers[qid] = list;
            }
        }
        var items = new List<EvalItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var e in questions.EnumerateArray())
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            string? qid = JsonLines.Text(e, "question_id"), question = JsonLines.Text(e, "question");
            if (qid is null || question is null || !e.TryGetProperty("image_id", out var img) || !img.TryGetInt64(out long imageId))
            {
                issues.Add(new ReadIssue(questionsPath, entry, "question lacks question_id, image_id or question"));
                continue;
            }
            if (!seen.Add(qid)) { issues.Add(new ReadIssue(questionsPath, entry, $"duplicate question_id '{qid}'")); continue; }
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = qid, Question = question, Prompt = question + "\n" + Prompts.ShortAnswer,
                ImagePath = Path.Combine(imageFolder, $"COCO_{subtype}_{imageId.ToString("D12", CultureInfo.InvariantCulture)}.jpg"),
                Answers = answers.TryGetValue(qid, out var list) ? list : [],
            });
        }
        return new EvalDataset { Task = Task, Kind = TaskKind.Vqa, Items = items, Issues = issues, Settings = JsonLines.Settings(("split", subtype)) };
    }
}

/// <summary>VizWiz-VQA (vizwiz.org, <c>Annotations/val.json</c>): a JSON list of <c>{image:
/// "VizWiz_val_00000000.jpg", question, answers: [{answer, answer_confidence}] ×10, answer_type,
/// answerable}</c>; the question id is the image name. LLaVA-1.5's prompt asks for "Unanswerable"
/// when the information is insufficient; VQA accuracy, "unanswerable" counted like any answer.</summary>
internal static class VizWizReader
{
    public const string Task = "vizwiz";

    public const string UnanswerableHint = "When the provided information is insufficient, respond with 'Unanswerable'.";

    public static EvalDataset Read(string path, string imageFolder, CancellationToken ct = default)
    {
        var root = JsonLines.LoadDocument(path);
        if (root.ValueKind != JsonValueKind.Array) throw new DatasetException(path, "expected a JSON list of {image, question, answers}");
        var items = new List<EvalItem>();
        var issues = new List<ReadIssue>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var e in root.EnumerateArray())
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            string? image = JsonLines.Text(e, "image"), question = JsonLines.Text(e, "question");
            if (image is null || question is null)
            {
                issues.Add(new ReadIssue(path, entry, "entry lacks image or question"));
                continue;
            }
            string qid = Path.GetFileNameWithoutExtension(image);
            if (!seen.Add(qid)) { issues.Add(new ReadIssue(path, entry, $"duplicate image '{image}'")); continue; }
            var answers = e.TryGetProperty("answers", out var arr) && arr.ValueKind == JsonValueKind.Array
                ? arr.EnumerateArray().Select(x => JsonLines.Text(x, "answer")).Where(s => s is not null).Select(s => s!).ToList() : [];
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = qid, SourceId = image, Question = question,
                Prompt = question + "\n" + UnanswerableHint + "\n" + Prompts.ShortAnswer,
                ImagePath = Path.Combine(imageFolder, image), Answers = answers,
                Category = JsonLines.Text(e, "answer_type"),
            });
        }
        return new EvalDataset { Task = Task, Kind = TaskKind.Vqa, Items = items, Issues = issues };
    }
}
