namespace TokenSieve.Evaluation;

/// <summary>MME scoring (REFERENCE §6): per subtask <c>acc + acc+</c> (each out of 100), perception and
/// cognition sums.</summary>
internal static class MmeScorer
{
    public static readonly IReadOnlyList<string> PerceptionSubtasks =
        ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"];

    public static readonly IReadOnlyList<string> CognitionSubtasks =
        ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"];

    /// <summary>The answer as "yes", "no" or "other" under either convention.</summary>
    public static string ParseAnswer(string prediction, AnswerParsing parsing) =>
        parsing == AnswerParsing.Llava ? ParseAnswerOfficial(prediction) : ParseAnswer(prediction);

    /// <summary>MME's own <c>eval_tool/calculation.py</c>, which LLaVA's numbers go through: lowercase only;
    /// "yes"/"no" as is, otherwise "yes" then "no" searched in the first four characters.</summary>
    public static string ParseAnswerOfficial(string prediction)
    {
        string p = prediction.ToLowerInvariant();
        if (p is "yes" or "no") return p;
        string prefix = p.Length > 4 ? p[..4] : p;
        if (prefix.Contains("yes", StringComparison.Ordinal)) return "yes";
        if (prefix.Contains("no", StringComparison.Ordinal)) return "no";
        return "other";
    }

    /// <summary>lmms-eval (from Otter): <c>p = pred.lower().strip().replace(".", "")</c>; "yes"/"no" as is;
    /// a single 'y'/'n'; otherwise look in the first four characters for "yes", then "no"; else "other".</summary>
    public static string ParseAnswer(string prediction)
    {
        string p = prediction.ToLowerInvariant().Trim().Replace(".", "");
        if (p is "yes" or "no") return p;
        if (p.Length == 1)
        {
            if (p == "y") return "yes";
            if (p == "n") return "no";
        }
        string prefix = p.Length > 4 ? p[..4] : p;
        if (prefix.Contains("yes", StringComparison.Ordinal)) return "yes";
        if (prefix.Contains("no", StringComparison.Ordinal)) return "no";
        return "other";
    }

    public static string NormalizeGroundTruth(string answer) => answer.ToLowerInvariant().Replace(".", "").Trim();

    /// <summary>Scores of one subtask from (image, prediction, ground truth) rows.</summary>
    public static (double Acc, double AccPlus) ScoreSubtask(IEnumerable<(string Image, string Prediction, string Answer)> rows,
        AnswerParsing parsing = AnswerParsing.LmmsEval)
    {
        int n = 0, correct = 0;
        var perImage = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var (image, pred, answer) in rows)
        {
            bool ok = ParseAnswer(pred, parsing) == NormalizeGroundTruth(answer);
            n++;
            if (ok) correct++;
            perImage[image] = perImage.TryGetValue(image, out bool prev) ? prev && ok : ok;
        }
        if (n == 0) return (0, 0);
        double acc = 100.0 * correct / n;
        double accPlus = 100.0 * perImage.Values.Count(v => v) / perImage.Count;
        return (acc, accPlus);
    }

    /// <summary>The canonical subtask name (case-insensitive match on the 14 names), or the input.</summary>
    public static string CanonicalSubtask(string name)
    {
        foreach (var s in PerceptionSubtasks.Concat(CognitionSubtasks))
            if (string.Equals(s, name, StringComparison.OrdinalIgnoreCase)) return s;
        return name;
    }
}
