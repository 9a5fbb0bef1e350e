namespace TokenSieve.Evaluation;

/// <summary>Confusion counts and metrics of one POPE split (positive class = "yes").</summary>
internal sealed record PopeMetrics(int TruePositive, int FalsePositive, int TrueNegative, int FalseNegative, int Count,
    double Accuracy, double Precision, double Recall, double F1, double YesRatio);

/// <summary>POPE per split and the mean over splits — the paper's POPE number is <see cref="MeanF1"/>.</summary>
internal sealed record PopeReport(IReadOnlyDictionary<string, PopeMetrics> Splits, double MeanF1, double MeanAccuracy);

/// <summary>POPE scoring, both conventions (REFERENCE §6). Ratios are in [0, 1]; a zero denominator
/// gives 0 (LLaVA's script would divide by zero there; lmms-eval returns 0).</summary>
internal static class PopeScorer
{
    /// <summary>LLaVA <c>eval_pope.py</c>: keep the text before the first '.', delete ',', split on single
    /// spaces; "no" if any word is exactly <c>No</c>, <c>not</c> or <c>no</c>, otherwise "yes".</summary>
    public static string ParseLlava(string text)
    {
        int dot = text.IndexOf('.');
        if (dot >= 0) text = text[..dot];
        text = text.Replace(",", "");
        foreach (string w in text.Split(' '))
            if (w is "No" or "not" or "no") return "no";
        return "yes";
    }

    /// <summary>lmms-eval <c>pope_process_results</c>: <c>pred.lower().strip()</c>; anything but an exact
    /// "yes"/"no" stays as it is and is wrong.</summary>
    public static string ParseLmmsEval(string text) => text.ToLowerInvariant().Trim();

    public static string Parse(string text, AnswerParsing parsing) =>
        parsing == AnswerParsing.Llava ? ParseLlava(text) : ParseLmmsEval(text);

    /// <summary>Metrics of one split from raw prediction texts and "yes"/"no" labels.</summary>
    public static PopeMetrics ScoreSplit(IEnumerable<(string Text, string Label)> pairs, AnswerParsing parsing)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0, n = 0, correct = 0, predYes = 0, gtYes = 0;
        foreach (var (text, rawLabel) in pairs)
        {
            string label = rawLabel.Trim().ToLowerInvariant();
            string pred = Parse(text, parsing);
            n++;
            if (pred == label) correct++;
            if (pred == "yes") predYes++;
            if (label == "yes") gtYes++;
            if (parsing == AnswerParsing.Llava)
            {
                // LLaVA maps every label other than "no" to positive.
                bool labelYes = label != "no";
                bool predPos = pred == "yes";
                if (predPos && labelYes) tp++;
                else if (predPos) fp++;
                else if (!labelYes) tn++;
                else fn++;
            }
            else
            {
                // lmms-eval counts only exact "yes"/"no" predictions in the confusion matrix.
                if (label == "yes" && pred == "yes") tp++;
                else if (label == "no" && pred == "yes") fp++;
                else if (label == "no" && pred == "no") tn++;
                else if (label == "yes" && pred == "no") fn++;
            }
        }
        double precision = tp + fp > 0 ? (double)tp / (tp + fp) : 0;
        double recall = tp + fn > 0 ? (double)tp / (tp + fn) : 0;
        double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
        double accuracy = parsing == AnswerParsing.Llava
            ? (tp + tn + fp + fn > 0 ? (double)(tp + tn) / (tp + tn + fp + fn) : 0)
            : (n > 0 ? (double)correct / n : 0);
        // lmms-eval's pope_yes_ratio counts ground-truth "yes" (a quirk); LLaVA's counts predictions.
        double yesRatio = n == 0 ? 0 : parsing == AnswerParsing.Llava ? (double)predYes / n : (double)gtYes / n;
        return new PopeMetrics(tp, fp, tn, fn, n, accuracy, precision, recall, f1, yesRatio);
    }

    /// <summary>Per-split metrics and their means, splits in ordinal order.</summary>
    public static PopeReport Score(IEnumerable<(string Split, string Text, string Label)> rows, AnswerParsing parsing)
    {
        var splits = new SortedDictionary<string, PopeMetrics>(StringComparer.Ordinal);
        foreach (var g in rows.GroupBy(r => r.Split))
            splits[g.Key] = ScoreSplit(g.Select(r => (r.Text, r.Label)), parsing);
        double meanF1 = splits.Count == 0 ? 0 : splits.Values.Average(m => m.F1);
        double meanAcc = splits.Count == 0 ? 0 : splits.Values.Average(m => m.Accuracy);
        return new PopeReport(splits, meanF1, meanAcc);
    }
}
