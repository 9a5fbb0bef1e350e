namespace TokenSieve.Evaluation;

/// <summary>MMBench CircularEval with the static answer extraction of lmms-eval/VLMEvalKit
/// (<c>can_infer_option</c>, then <c>can_infer_text</c>); where those fail the reference asks a GPT judge,
/// which offline means the rotation counts as wrong (<c>mmbench_en_dev_static</c>).</summary>
internal static class MmBenchScorer
{
    /// <summary>Rows with <c>index ≥ 1e6</c> are option-rotated copies of <c>index % 1e6</c>.</summary>
    public const long CircularStride = 1_000_000;

    const string OptionLetters = "ABCDE";

    static readonly (string Prefix, string Suffix)[] Decorations =
        [("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."), (":", ""), (":", ","), (":", "."), (":", ")"), (":", ").")];

    /// <summary><c>can_infer_option(answer, num_choice=5)</c>: exactly one bare letter among the
    /// whitespace tokens (unless "A" appears in a sentence of more than three tokens, where it may be
    /// an article), else exactly one decorated letter ("B.", "(C)", …). Null when none is found.</summary>
    public static string? InferOption(string answer)
    {
        if (answer.Contains("Failed to obtain answer via API", StringComparison.Ordinal)) return null;
        var splits = VqaNormalizer.SplitWhitespace(answer).Select(s => s.Trim()).ToList();

        int Count(string prefix, string suffix) => OptionLetters.Count(c => splits.Contains(prefix + c + suffix));

        if (Count("", "") == 1)
        {
            // The reference breaks out of its loop at the first letter when "A" may be a quantifier.
            if (!(splits.Contains("A") && splits.Count > 3))
                foreach (char ch in OptionLetters)
                    if (splits.Contains(ch.ToString())) return ch.ToString();
        }
        foreach (var (prefix, suffix) in Decorations)
        {
            if (Count(prefix, suffix) == 1)
                foreach (char ch in OptionLetters)
                    if (splits.Contains(prefix + ch + suffix)) return ch.ToString();
        }
        return null;
    }

    /// <summary><c>can_infer_text</c>: the one option whose text (lowercased) occurs in the lowercased
    /// answer. <paramref name="choices"/> are the options present, in letter order from A.</summary>
    public static string? InferText(string answer, IReadOnlyList<string> choices)
    {
        string a = answer.ToLowerInvariant();
        string? found = null;
        int count = 0;
        for (int i = 0; i < choices.Count; i++)
        {
            if (a.Contains(choices[i].ToLowerInvariant(), StringComparison.Ordinal))
            {
                count++;
                found = ((char)('A' + i)).ToString();
            }
        }
        return count == 1 ? found : null;
    }

    /// <summary>The static extraction: option letter first, then option text.</summary>
    public static string? Extract(string answer, IReadOnlyList<string> choices) =>
        InferOption(answer) ?? InferText(answer, choices);

    /// <summary>Circular hit for one question: every rotation present must extract to its own answer.</summary>
    public static bool CircularHit(IEnumerable<(string Prediction, IReadOnlyList<string> Choices, string Answer)> rotations)
    {
        bool any = false;
        foreach (var (pred, choices, answer) in rotations)
        {
            any = true;
            if (Extract(pred, choices) != answer) return false;
        }
        return any;
    }
}
