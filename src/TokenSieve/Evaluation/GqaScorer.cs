namespace TokenSieve.Evaluation;

/// <summary>GQA (and any short-answer task) exact match.</summary>
internal static class GqaScorer
{
    const string PythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>LLaVA <c>convert_gqa_for_eval.py</c>: <c>text.rstrip('.').lower()</c>, then the official
    /// eval's exact comparison with the answer as stored.</summary>
    public static bool IsCorrectLlava(string prediction, string answer) =>
        prediction.TrimEnd('.').ToLowerInvariant() == answer;

    /// <summary>lmms-eval <c>exact_match</c> with <c>ignore_case</c> and <c>ignore_punctuation</c> on both
    /// sides; the model wrapper strips the generated text first.</summary>
    public static bool IsCorrectLmmsEval(string prediction, string answer) =>
        StripPunctuation(prediction.Trim().ToLowerInvariant()) == StripPunctuation(answer.ToLowerInvariant());

    public static bool IsCorrect(string prediction, string answer, AnswerParsing parsing) =>
        parsing == AnswerParsing.Llava ? IsCorrectLlava(prediction, answer) : IsCorrectLmmsEval(prediction, answer);

    /// <summary>Lab-suite short answers: trimmed, trailing periods stripped, case-insensitive, any of the answers.</summary>
    public static bool IsCorrectShortAnswer(string prediction, IReadOnlyList<string> answers)
    {
        string p = prediction.Trim().TrimEnd('.').Trim().ToLowerInvariant();
        foreach (var a in answers) if (p == a.Trim().ToLowerInvariant()) return true;
        return false;
    }

    internal static string StripPunctuation(string s)
    {
        var chars = new List<char>(s.Length);
        foreach (char c in s) if (!PythonPunctuation.Contains(c)) chars.Add(c);
        return new string(chars.ToArray());
    }
}
