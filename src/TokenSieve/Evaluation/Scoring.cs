namespace TokenSieve.Evaluation;

/// <summary>Scores a dataset's items against prediction texts keyed by <see cref="EvalItem.QuestionId"/>,
/// with the scorer its <see cref="TaskKind"/> names. Items without a prediction are counted in
/// <see cref="TaskScore.Missing"/> and left out of the metrics.</summary>
public static class Scoring
{
    public static TaskScore Score(EvalDataset dataset, IReadOnlyDictionary<string, string> predictions, AnswerParsing parsing = AnswerParsing.Llava)
    {
        var answered = new List<(EvalItem Item, string Text)>();
        int missing = 0;
        foreach (var item in dataset.Items)
        {
            // Items without ground truth (MMBench test split) cannot be scored; they count as missing.
            if (item.Answers.Count > 0 && predictions.TryGetValue(item.QuestionId, out var text)) answered.Add((item, text));
            else missing++;
        }
        var score = dataset.Kind switch
        {
            TaskKind.Pope => ScorePope(dataset.Task, answered, parsing),
            TaskKind.Gqa => ScoreAccuracy(dataset.Task, TaskKind.Gqa, parsing, answered,
                (it, t) => GqaScorer.IsCorrect(t, it.Answers[0], parsing) ? 1 : 0),
            TaskKind.ExactMatch => ScoreAccuracy(dataset.Task, TaskKind.ExactMatch, parsing, answered,
                (it, t) => GqaScorer.IsCorrectShortAnswer(t, it.Answers) ? 1 : 0),
            TaskKind.TextVqa or TaskKind.Vqa => ScoreAccuracy(dataset.Task, dataset.Kind, parsing, answered,
                (it, t) => VqaAccuracy.Score(t, it.Answers)),
            TaskKind.YesNo => ScoreAccuracy(dataset.Task, TaskKind.YesNo, parsing, answered,
                (it, t) => PopeScorer.Parse(t, parsing) == it.Answers[0].Trim().ToLowerInvariant() ? 1 : 0),
            TaskKind.Grounding => ScoreGrounding(dataset.Task, answered, parsing),
            TaskKind.Mme => ScoreMme(dataset.Task, answered, parsing),
            TaskKind.ScienceQa => ScoreScienceQa(dataset.Task, answered, parsing),
            TaskKind.MmBench => ScoreMmBench(dataset.Task, answered, parsing),
            _ => throw new ArgumentOutOfRangeException(nameof(dataset), dataset.Kind, "unknown task kind"),
        };
        return score with { Missing = missing };
    }

    /// <summary>The score of one answer as its task's report counts it (1 or 0 for accuracy tasks,
    /// VQA soft accuracy for TextVQA), for tables of single answers such as the demo's.</summary>
    public static double ItemScore(TaskKind kind, EvalItem item, string text, AnswerParsing parsing = AnswerParsing.Llava) => kind switch
    {
        TaskKind.Pope => PopeScorer.Parse(text, parsing) == item.Answers[0].Trim().ToLowerInvariant() ? 1 : 0,
        TaskKind.Gqa => GqaScorer.IsCorrect(text, item.Answers[0], parsing) ? 1 : 0,
        TaskKind.ExactMatch => GqaScorer.IsCorrectShortAnswer(text, item.Answers) ? 1 : 0,
        TaskKind.TextVqa or TaskKind.Vqa => VqaAccuracy.Score(text, item.Answers),
        TaskKind.YesNo => PopeScorer.Parse(text, parsing) == item.Answers[0].Trim().ToLowerInvariant() ? 1 : 0,
        TaskKind.Grounding => GroundingScorer.IsCorrect(text, item.Answers[0]) ? 1 : 0,
        _ => throw new ArgumentException($"{kind} is scored over groups of answers (MME pairs, ScienceQA letters, MMBench circular groups), not one answer", nameof(kind)),
    };

    static TaskScore ScorePope(string task, List<(EvalItem Item, string Text)> answered, AnswerParsing parsing)
    {
        var report = PopeScorer.Score(answered.Select(a => (a.Item.Category ?? "all", a.Text, a.Item.Answers[0])), parsing);
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["mean_f1"] = 100 * report.MeanF1,
            ["mean_accuracy"] = 100 * report.MeanAccuracy,
        };
        foreach (var (split, m) in report.Splits)
        {
            metrics[$"{split}/accuracy"] = 100 * m.Accuracy;
            metrics[$"{split}/precision"] = 100 * m.Precision;
            metrics[$"{split}/recall"] = 100 * m.Recall;
            metrics[$"{split}/f1"] = 100 * m.F1;
            metrics[$"{split}/yes_ratio"] = 100 * m.YesRatio;
            metrics[$"{split}/count"] = m.Count;
        }
        var perItem = answered.ToDictionary(a => a.Item.QuestionId,
            a => PopeScorer.Parse(a.Text, parsing) == a.Item.Answers[0].Trim().ToLowerInvariant() ? 1.0 : 0.0);
        return new TaskScore
        {
            Task = task, Kind = TaskKind.Pope, Parsing = parsing, MainMetric = "mean_f1", Main = 100 * report.MeanF1,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }

    static TaskScore ScoreAccuracy(string task, TaskKind kind, AnswerParsing parsing, List<(EvalItem Item, string Text)> answered,
        Func<EvalItem, string, double> itemScore)
    {
        var perItem = new Dictionary<string, double>(StringComparer.Ordinal);
        var byCategory = new SortedDictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var (item, text) in answered)
        {
            double s = itemScore(item, text);
            perItem[item.QuestionId] = s;
            if (item.Category is { } c)
            {
                if (!byCategory.TryGetValue(c, out var list)) byCategory[c] = list = [];
                list.Add(s);
            }
        }
        double acc = perItem.Count == 0 ? 0 : 100 * perItem.Values.Average();
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["accuracy"] = acc };
        foreach (var (c, list) in byCategory) metrics[$"category/{c}"] = 100 * list.Average();
        return new TaskScore
        {
            Task = task, Kind = kind, Parsing = parsing, MainMetric = "accuracy", Main = acc,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }

    /// <summary>Acc@0.5 (main), mean IoU, parse failures (no four numbers: wrong, IoU 0), per category.</summary>
    static TaskScore ScoreGrounding(string task, List<(EvalItem Item, string Text)> answered, AnswerParsing parsing)
    {
        var perItem = new Dictionary<string, double>(StringComparer.Ordinal);
        double iouSum = 0;
        int failures = 0;
        var byCategory = new SortedDictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var (item, text) in answered)
        {
            double? iou = GroundingScorer.IoU(text, item.Answers[0]);
            if (iou is null) failures++;
            iouSum += iou ?? 0;
            double hit = iou >= GroundingScorer.Threshold ? 1 : 0;
            perItem[item.QuestionId] = hit;
            if (item.Category is { } c)
            {
                if (!byCategory.TryGetValue(c, out var list)) byCategory[c] = list = [];
                list.Add(hit);
            }
        }
        double acc = perItem.Count == 0 ? 0 : 100 * perItem.Values.Average();
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["acc@0.5"] = acc,
            ["mean_iou"] = answered.Count == 0 ? 0 : 100 * iouSum / answered.Count,
            ["parse_failures"] = failures,
        };
        foreach (var (c, list) in byCategory) metrics[$"category/{c}"] = 100 * list.Average();
        return new TaskScore
        {
            Task = task, Kind = TaskKind.Grounding, Parsing = parsing, MainMetric = "acc@0.5", Main = acc,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }

    static TaskScore ScoreMme(string task, List<(EvalItem Item, string Text)> answered, AnswerParsing parsing)
    {
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        double perception = 0, cognition = 0;
        foreach (var g in answered.GroupBy(a => MmeScorer.CanonicalSubtask(a.Item.Category ?? "unknown")).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var (acc, accPlus) = MmeScorer.ScoreSubtask(g.Select(a => (a.Item.Group ?? a.Item.QuestionId, a.Text, a.Item.Answers[0])), parsing);
            metrics[$"{g.Key}/acc"] = acc;
            metrics[$"{g.Key}/acc_plus"] = accPlus;
            metrics[$"{g.Key}/score"] = acc + accPlus;
            if (MmeScorer.PerceptionSubtasks.Contains(g.Key)) perception += acc + accPlus;
            else if (MmeScorer.CognitionSubtasks.Contains(g.Key)) cognition += acc + accPlus;
        }
        metrics["perception"] = perception;
        metrics["cognition"] = cognition;
        metrics["total"] = perception + cognition;
        var perItem = answered.ToDictionary(a => a.Item.QuestionId,
            a => MmeScorer.ParseAnswer(a.Text, parsing) == MmeScorer.NormalizeGroundTruth(a.Item.Answers[0]) ? 1.0 : 0.0);
        return new TaskScore
        {
            Task = task, Kind = TaskKind.Mme, Parsing = parsing, MainMetric = "perception", Main = perception,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }

    static TaskScore ScoreScienceQa(string task, List<(EvalItem Item, string Text)> answered, AnswerParsing parsing)
    {
        var perItem = new Dictionary<string, double>(StringComparer.Ordinal);
        int img = 0, imgCorrect = 0;
        foreach (var (item, text) in answered)
        {
            bool ok = parsing == AnswerParsing.Llava
                ? ScienceQaScorer.IsCorrectLlava(text, item.Answers[0], item.Choices.Count)
                : ScienceQaScorer.IsCorrectLmmsEval(text, item.Answers[0]);
            perItem[item.QuestionId] = ok ? 1 : 0;
            if (item.HasImage) { img++; if (ok) imgCorrect++; }
        }
        double acc = perItem.Count == 0 ? 0 : 100 * perItem.Values.Average();
        double imgAcc = img == 0 ? 0 : 100.0 * imgCorrect / img;
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = acc, ["img_accuracy"] = imgAcc, ["img_count"] = img,
        };
        return new TaskScore
        {
            Task = task, Kind = TaskKind.ScienceQa, Parsing = parsing,
            MainMetric = img > 0 ? "img_accuracy" : "accuracy", Main = img > 0 ? imgAcc : acc,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }

    static TaskScore ScoreMmBench(string task, List<(EvalItem Item, string Text)> answered, AnswerParsing parsing)
    {
        var perItem = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (item, text) in answered)
            perItem[item.QuestionId] = MmBenchScorer.Extract(text, item.Choices) == item.Answers[0] ? 1 : 0;
        var hits = new List<(string Category, string? L2, bool Hit)>();
        foreach (var g in answered.GroupBy(a => a.Item.Group ?? a.Item.QuestionId, StringComparer.Ordinal))
        {
            bool hit = g.All(a => perItem[a.Item.QuestionId] == 1);
            var first = g.First().Item;
            hits.Add((first.Category ?? "uncategorized", first.Extra.GetValueOrDefault("l2-category"), hit));
        }
        double overall = hits.Count == 0 ? 0 : 100.0 * hits.Count(h => h.Hit) / hits.Count;
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["circular_accuracy"] = overall, ["questions"] = hits.Count,
        };
        foreach (var g in hits.GroupBy(h => h.Category)) metrics[$"category/{g.Key}"] = 100.0 * g.Count(h => h.Hit) / g.Count();
        foreach (var g in hits.Where(h => h.L2 is not null).GroupBy(h => h.L2!)) metrics[$"l2/{g.Key}"] = 100.0 * g.Count(h => h.Hit) / g.Count();
        return new TaskScore
        {
            Task = task, Kind = TaskKind.MmBench, Parsing = parsing, MainMetric = "circular_accuracy", Main = overall,
            Metrics = metrics, Scored = answered.Count, PerItem = perItem,
        };
    }
}
