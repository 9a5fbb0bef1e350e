using System.Text.RegularExpressions;

namespace TokenSieve.Evaluation;

/// <summary>ScienceQA letter extraction (REFERENCE §6).</summary>
internal static partial class ScienceQaScorer
{
    static readonly string[] Options = ["A", "B", "C", "D", "E"];

    [GeneratedRegex(@"The answer is ([A-E])\.")]
    private static partial Regex AnswerIsWithPeriod();

    [GeneratedRegex(@"The answer is ([A-E])")]
    private static partial Regex AnswerIs();

    [GeneratedRegex(@"^[A-Z]\.")]
    private static partial Regex LetterDotPrefix();

    /// <summary>LLaVA <c>eval_science_qa.py</c>: the letter, or "X. …", or "The answer is X[.]"; otherwise
    /// null (FAILED). Newlines become ". " first, as the script does.</summary>
    public static string? ExtractLlava(string text)
    {
        string predText = text.Replace("\n", ". ");
        string stripped = predText.Trim();
        if (Options.Contains(stripped)) return stripped;
        if (predText.Length >= 3 && Options.Contains(predText[..1]) && predText.Substring(1, 2) == ". ") return predText[..1];
        if (predText.Contains("The answer is ", StringComparison.Ordinal))
        {
            var m = AnswerIsWithPeriod().Match(predText);
            if (m.Success) return m.Groups[1].Value;
            m = AnswerIs().Match(predText);
            if (m.Success) return m.Groups[1].Value;
        }
        return null;
    }

    /// <summary>Whether LLaVA's parse picks the right option: the letter must name one of the
    /// <paramref name="choiceCount"/> choices and equal <paramref name="answerLetter"/>.</summary>
    public static bool IsCorrectLlava(string text, string answerLetter, int choiceCount)
    {
        string? letter = ExtractLlava(text);
        if (letter is null) return false;
        int idx = letter[0] - 'A';
        return idx < choiceCount && letter == answerLetter;
    }

    /// <summary>lmms-eval: <c>pred.strip().lower() == letter.lower()</c>, or the prediction starts with "X.".</summary>
    public static bool IsCorrectLmmsEval(string text, string answerLetter)
    {
        string p = text.Trim();
        if (p.ToLowerInvariant() == answerLetter.ToLowerInvariant()) return true;
        return LetterDotPrefix().IsMatch(p) && p[..1] == answerLetter;
    }
}
