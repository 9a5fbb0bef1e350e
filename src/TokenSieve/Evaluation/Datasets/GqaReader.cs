using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>GQA <c>testdev_balanced_questions.json</c>: an object keyed by question id, each
/// <c>{imageId, question, answer, …}</c>; images are <c>{imageId}.jpg</c>.</summary>
internal static class GqaReader
{
    public const string Task = "gqa";

    public static EvalDataset Read(string questionsJson, string imageFolder, CancellationToken ct = default)
    {
        var root = JsonLines.LoadDocument(questionsJson);
        if (root.ValueKind != JsonValueKind.Object)
            throw new DatasetException(questionsJson, "expected an object keyed by question id");
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        int entry = 0;
        foreach (var prop in root.EnumerateObject())
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            var q = prop.Value;
            string? imageId = JsonLines.Text(q, "imageId");
            string? question = JsonLines.Text(q, "question");
            string? answer = JsonLines.Text(q, "answer");
            if (imageId is null || question is null || answer is null)
            {
                issues.Add(new ReadIssue(questionsJson, entry, $"entry '{prop.Name}' lacks imageId, question or answer"));
                continue;
            }
            var extra = new Dictionary<string, string>();
            if (JsonLines.Text(q, "fullAnswer") is { } full) extra["full_answer"] = full;
            string? structural = q.TryGetProperty("types", out var types) ? JsonLines.Text(types, "structural") : null;
            items.Add(new EvalItem
            {
                Task = Task, QuestionId = prop.Name, SourceId = prop.Name, Question = question,
                Prompt = Prompts.WithSuffix(question, Prompts.ShortAnswer),
                ImagePath = Path.Combine(imageFolder, imageId + ".jpg"), Answers = [answer],
                Category = structural, Extra = extra,
            });
        }
        return new EvalDataset { Task = Task, Kind = TaskKind.Gqa, Items = items, Issues = issues };
    }
}
