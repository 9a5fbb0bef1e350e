using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>TextVQA val (<c>TextVQA_0.5.1_val.json</c>): <c>{"data": [{question_id, image_id, question,
/// answers[10], ocr_tokens?}]}</c>; images are <c>{image_id}.jpg</c> (val images live in train_images).
/// With OCR tokens the prompt gets LLaVA's <c>Reference OCR token: a, b, c</c> line, which is how
/// LLaVA-1.5's 58.2 was measured; <see cref="EvalDataset.Settings"/> records <c>ocr_tokens</c>.</summary>
internal static class TextVqaReader
{
    public const string Task = "textvqa";

    /// <param name="ocrTokens">Add the OCR line to the prompt. Tokens come from each entry's
    /// <c>ocr_tokens</c> (the Rosetta-OCR val file has them); entries without tokens get no line.</param>
    public static EvalDataset Read(string annotationJson, string imageFolder, bool ocrTokens, CancellationToken ct = default)
    {
        var root = JsonLines.LoadDocument(annotationJson);
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw new DatasetException(annotationJson, "expected an object with a 'data' array");
        var issues = new List<ReadIssue>();
        var items = new List<EvalItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int entry = 0;
        foreach (var e in data.EnumerateArray())
        {
            ct.ThrowIfCancellationRequested();
            entry++;
            string? qid = JsonLines.Text(e, "question_id");
            string? imageId = JsonLines.Text(e, "image_id");
            string? question = JsonLines.Text(e, "question");
            var answers = JsonLines.Strings(e, "answers");
            if (qid is null || imageId is null || question is null || answers is null || answers.Count == 0)
            {
                issues.Add(new ReadIssue(annotationJson, entry, "entry lacks question_id, image_id, question or answers"));
                continue;
            }
            if (!seen.Add(qid))
            {
                issues.Add(new ReadIssue(annotationJson, entry, $"duplicate question_id '{qid}'"));
                continue;
            }
            string prompt = question;
            var tokens = ocrTokens ? JsonLines.Strings(e, "ocr_tokens")?.Where(t => !string.IsNullOrWhiteSpace(t)).ToList() : null;
            if (tokens is { Count: > 0 }) prompt += "\nReference OCR token: " + string.Join(", ", tokens);
            items.Add(new EvalItem
            {
                // LLaVA's answer files carry image_id as question_id and are matched on (image_id, question).
                Task = Task, QuestionId = qid, SourceId = imageId, Question = question,
                Prompt = prompt + "\n" + Prompts.ShortAnswer,
                ImagePath = Path.Combine(imageFolder, imageId + ".jpg"), Answers = answers,
            });
        }
        return new EvalDataset
        {
            Task = Task, Kind = TaskKind.TextVqa, Items = items, Issues = issues,
            Settings = JsonLines.Settings(("ocr_tokens", ocrTokens ? "true" : "false")),
        };
    }
}
