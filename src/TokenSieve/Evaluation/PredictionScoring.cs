namespace TokenSieve.Evaluation;

/// <summary>Mean measured cost of one configuration's predictions (only records that carry the field count).</summary>
public sealed record CostSummary(int Count, double MeanVisualTokens, double MeanPrefillMs, double MedianPrefillMs,
    double MeanDecodeMs, double MeanTtftMs, double MeanFlops);

/// <summary>The score of one configuration (method spec) on one task, with its cost.</summary>
/// <param name="Unmatched">Prediction records that matched no item of the dataset.</param>
/// <param name="Dataset">The dataset scored (for paired statistics).</param>
/// <param name="Predictions">The answer text per item question id that was scored.</param>
public sealed record ConfigurationScore(string Task, string Spec, string Method, int? Budget, TaskScore Score, CostSummary Cost,
    int Unmatched, IReadOnlyDictionary<string, string> Settings, EvalDataset? Dataset = null, IReadOnlyDictionary<string, string>? Predictions = null);

/// <summary>The <c>score</c> API: scores a predictions file (ours, or a LLaVA answer file
/// <c>{question_id, prompt, text, …}</c>) against a dataset without running a model. Records are grouped by
/// method spec; each group is scored separately.</summary>
public static class PredictionScoring
{
    /// <summary>Label for records that name no spec (LLaVA answer files).</summary>
    public const string ExternalSpec = "external";

    /// <summary>Reads <paramref name="predictionsPath"/> and scores every configuration in it for
    /// <paramref name="dataset"/>'s task. Malformed lines go to <paramref name="issues"/> when given.</summary>
    public static IReadOnlyList<ConfigurationScore> ScoreFile(EvalDataset dataset, string predictionsPath,
        AnswerParsing parsing = AnswerParsing.Llava, List<ReadIssue>? issues = null)
    {
        var records = ResultsFile.Read(predictionsPath, issues ?? []);
        return Score(dataset, records, parsing);
    }

    /// <summary>Scores a whole run: every task in <paramref name="datasets"/> × every configuration in the
    /// results file, in dataset order — the input of <see cref="BenchmarkReport"/>.</summary>
    public static IReadOnlyList<ConfigurationScore> ScoreRun(IReadOnlyList<EvalDataset> datasets, string resultsPath,
        AnswerParsing parsing = AnswerParsing.Llava, List<ReadIssue>? issues = null)
    {
        var records = ResultsFile.Read(resultsPath, issues ?? []);
        return datasets.SelectMany(d => Score(d, records.Where(r => r.Task == d.Task || (r.Task is null && datasets.Count == 1)), parsing)).ToList();
    }

    /// <summary>Scores records (any task; those naming another task are ignored).</summary>
    public static IReadOnlyList<ConfigurationScore> Score(EvalDataset dataset, IEnumerable<PredictionRecord> records, AnswerParsing parsing = AnswerParsing.Llava)
    {
        var matcher = new ItemMatcher(dataset.Items);
        var result = new List<ConfigurationScore>();
        var relevant = records.Where(r => r.Task is null || r.Task == dataset.Task);
        // Eager-attention answers of a spec are their own configuration ("spec@eager").
        foreach (var group in relevant.GroupBy(r => (r.Spec ?? ExternalSpec) + (r.Attention is null ? "" : "@" + r.Attention), StringComparer.Ordinal))
        {
            var texts = new Dictionary<string, string>(StringComparer.Ordinal);
            var matched = new List<PredictionRecord>();
            int unmatched = 0;
            foreach (var r in group)
            {
                var item = matcher.Find(r);
                if (item is null) { unmatched++; continue; }
                if (texts.TryAdd(item.QuestionId, r.Text)) matched.Add(r);   // the first answer counts, as resume keeps it
            }
            var first = group.First();
            var score = Scoring.Score(dataset, texts, parsing);
            var settings = new Dictionary<string, string>(dataset.Settings);
            if (first.Settings is not null) foreach (var (k, v) in first.Settings) settings.TryAdd(k, v);
            result.Add(new ConfigurationScore(dataset.Task, group.Key, first.Method ?? group.Key.Split(':')[0], first.Budget,
                score, Cost(matched), unmatched, settings, dataset, texts));
        }
        return result;
    }

    static CostSummary Cost(List<PredictionRecord> rs)
    {
        static double Mean(IEnumerable<double> xs) { var l = xs.ToList(); return l.Count == 0 ? double.NaN : l.Average(); }
        var prefill = rs.Where(r => r.PrefillMs.HasValue).Select(r => r.PrefillMs!.Value).Order().ToList();
        return new CostSummary(rs.Count,
            Mean(rs.Where(r => r.VisualTokens.HasValue).Select(r => (double)r.VisualTokens!.Value)),
            Mean(prefill), SampleStats.Median(prefill),
            Mean(rs.Where(r => r.DecodeMs.HasValue).Select(r => r.DecodeMs!.Value)),
            Mean(rs.Where(r => r.TtftMs.HasValue).Select(r => r.TtftMs!.Value)),
            Mean(rs.Where(r => r.Flops.HasValue).Select(r => r.Flops!.Value)));
    }

    /// <summary>Finds the item a record answers: by our question id; else by the source file's id when
    /// that names one item; else by (source id, question) as LLaVA's TextVQA and MME converters match.</summary>
    sealed class ItemMatcher
    {
        readonly Dictionary<string, EvalItem> _byId = new(StringComparer.Ordinal);
        readonly Dictionary<string, List<EvalItem>> _bySource = new(StringComparer.Ordinal);

        public ItemMatcher(IEnumerable<EvalItem> items)
        {
            foreach (var it in items)
            {
                _byId.TryAdd(it.QuestionId, it);
                if (it.SourceId is null) continue;
                if (!_bySource.TryGetValue(it.SourceId, out var list)) _bySource[it.SourceId] = list = [];
                list.Add(it);
            }
        }

        public EvalItem? Find(PredictionRecord r)
        {
            if (_byId.TryGetValue(r.QuestionId, out var it)) return it;
            if (!_bySource.TryGetValue(r.QuestionId, out var list)) return null;
            if (list.Count == 1) return list[0];
            string q = QuestionOf(r.Prompt);
            return list.FirstOrDefault(i => string.Equals(QuestionOf(i.Question), q, StringComparison.OrdinalIgnoreCase));
        }

        /// <summary>LLaVA's <c>prompt_processor</c>: the line that is not the OCR line, else the first line;
        /// the short-answer suffix and MME's "Please answer yes or no." are ignored.</summary>
        static string QuestionOf(string prompt)
        {
            var lines = prompt.Replace("<image>", "").Trim().Split('\n');
            string q = lines.FirstOrDefault(l => !l.StartsWith("Reference OCR token:", StringComparison.Ordinal) && l.Trim().Length > 0) ?? "";
            return q.Replace("Please answer yes or no.", "").Trim();
        }
    }
}
