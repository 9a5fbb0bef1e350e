namespace TokenSieve.Evaluation;

/// <summary>Which harness's prompt wording a reader produces. Only MME and MMBench differ; the choice
/// is recorded in <see cref="EvalDataset.Settings"/> as <c>prompt</c>.</summary>
public enum PromptStyle
{
    /// <summary>LLaVA's <c>scripts/v1_5/eval</c> question files.</summary>
    Llava,
    /// <summary>lmms-eval's <c>doc_to_text</c>.</summary>
    LmmsEval,
}

/// <summary>The fixed prompt suffixes of LLaVA-1.5's evaluation (docs/Evaluation.md).</summary>
internal static class Prompts
{
    public const string ShortAnswer = "Answer the question using a single word or phrase.";
    public const string OptionLetter = "Answer with the option's letter from the given choices directly.";

    /// <summary><paramref name="question"/> + "\n" + <paramref name="suffix"/>, unless the question already ends with it.</summary>
    public static string WithSuffix(string question, string suffix) =>
        question.TrimEnd().EndsWith(suffix, StringComparison.Ordinal) ? question : question + "\n" + suffix;

    /// <summary>"A. first\nB. second…" from options in letter order.</summary>
    public static string OptionLines(IReadOnlyList<string> options) =>
        string.Join("\n", options.Select((o, i) => $"{(char)('A' + i)}. {o}"));
}
