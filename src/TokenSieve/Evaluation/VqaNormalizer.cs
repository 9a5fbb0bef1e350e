using System.Text;
using System.Text.RegularExpressions;

namespace TokenSieve.Evaluation;

/// <summary>The EvalAI/MMF answer processor that LLaVA's <c>m4c_evaluator.py</c> and lmms-eval's
/// TextVQA use (REFERENCE §6). Applied to the prediction and to every ground-truth answer.
/// Reproduced step by step, quirks included, so scores match the Python numbers exactly.</summary>
internal static partial class VqaNormalizer
{
    /// <summary>The VQA contractions table, as data (m4c_evaluator.py <c>CONTRACTIONS</c>). Keys are
    /// looked up after lowercasing, so the four keys with a capital I never match — the reference
    /// behaves the same way. <c>somebody'd → somebodyd</c> is the reference's entry, backwards as it is.</summary>
    public static readonly IReadOnlyDictionary<string, string> Contractions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["aint"] = "ain't", ["arent"] = "aren't", ["cant"] = "can't", ["couldve"] = "could've",
        ["couldnt"] = "couldn't", ["couldn'tve"] = "couldn't've", ["couldnt've"] = "couldn't've",
        ["didnt"] = "didn't", ["doesnt"] = "doesn't", ["dont"] = "don't", ["hadnt"] = "hadn't",
        ["hadnt've"] = "hadn't've", ["hadn'tve"] = "hadn't've", ["hasnt"] = "hasn't",
        ["havent"] = "haven't", ["hed"] = "he'd", ["hed've"] = "he'd've", ["he'dve"] = "he'd've",
        ["hes"] = "he's", ["howd"] = "how'd", ["howll"] = "how'll", ["hows"] = "how's",
        ["Id've"] = "I'd've", ["I'dve"] = "I'd've", ["Im"] = "I'm", ["Ive"] = "I've",
        ["isnt"] = "isn't", ["itd"] = "it'd", ["itd've"] = "it'd've", ["it'dve"] = "it'd've",
        ["itll"] = "it'll", ["let's"] = "let's", ["maam"] = "ma'am", ["mightnt"] = "mightn't",
        ["mightnt've"] = "mightn't've", ["mightn'tve"] = "mightn't've", ["mightve"] = "might've",
        ["mustnt"] = "mustn't", ["mustve"] = "must've", ["neednt"] = "needn't", ["notve"] = "not've",
        ["oclock"] = "o'clock", ["oughtnt"] = "oughtn't", ["ow's'at"] = "'ow's'at",
        ["'ows'at"] = "'ow's'at", ["'ow'sat"] = "'ow's'at", ["shant"] = "shan't",
        ["shed've"] = "she'd've", ["she'dve"] = "she'd've", ["she's"] = "she's",
        ["shouldve"] = "should've", ["shouldnt"] = "shouldn't", ["shouldnt've"] = "shouldn't've",
        ["shouldn'tve"] = "shouldn't've", ["somebody'd"] = "somebodyd",
        ["somebodyd've"] = "somebody'd've", ["somebody'dve"] = "somebody'd've",
        ["somebodyll"] = "somebody'll", ["somebodys"] = "somebody's", ["someoned"] = "someone'd",
        ["someoned've"] = "someone'd've", ["someone'dve"] = "someone'd've",
        ["someonell"] = "someone'll", ["someones"] = "someone's", ["somethingd"] = "something'd",
        ["somethingd've"] = "something'd've", ["something'dve"] = "something'd've",
        ["somethingll"] = "something'll", ["thats"] = "that's", ["thered"] = "there'd",
        ["thered've"] = "there'd've", ["there'dve"] = "there'd've", ["therere"] = "there're",
        ["theres"] = "there's", ["theyd"] = "they'd", ["theyd've"] = "they'd've",
        ["they'dve"] = "they'd've", ["theyll"] = "they'll", ["theyre"] = "they're",
        ["theyve"] = "they've", ["twas"] = "'twas", ["wasnt"] = "wasn't", ["wed've"] = "we'd've",
        ["we'dve"] = "we'd've", ["weve"] = "we've", ["werent"] = "weren't", ["whatll"] = "what'll",
        ["whatre"] = "what're", ["whats"] = "what's", ["whatve"] = "what've", ["whens"] = "when's",
        ["whered"] = "where'd", ["wheres"] = "where's", ["whereve"] = "where've", ["whod"] = "who'd",
        ["whod've"] = "who'd've", ["who'dve"] = "who'd've", ["wholl"] = "who'll", ["whos"] = "who's",
        ["whove"] = "who've", ["whyll"] = "why'll", ["whyre"] = "why're", ["whys"] = "why's",
        ["wont"] = "won't", ["wouldve"] = "would've", ["wouldnt"] = "wouldn't",
        ["wouldnt've"] = "wouldn't've", ["wouldn'tve"] = "wouldn't've", ["yall"] = "y'all",
        ["yall'll"] = "y'all'll", ["y'allll"] = "y'all'll", ["yall'd've"] = "y'all'd've",
        ["y'alld've"] = "y'all'd've", ["y'all'dve"] = "y'all'd've", ["youd"] = "you'd",
        ["youd've"] = "you'd've", ["you'dve"] = "you'd've", ["youll"] = "you'll",
        ["youre"] = "you're", ["youve"] = "you've",
    };

    static readonly Dictionary<string, string> NumberMap = new(StringComparer.Ordinal)
    {
        ["none"] = "0", ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4",
        ["five"] = "5", ["six"] = "6", ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10",
    };

    static readonly HashSet<string> Articles = new(StringComparer.Ordinal) { "a", "an", "the" };

    /// <summary>The punctuation list, in the reference's order (order matters: replacements accumulate).</summary>
    static readonly string[] Punctuations =
        [";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"];

    // PERIOD_STRIP = (?!<=\d)(\.)(?!\d): the first group is a typo'd lookahead (always true at a '.'),
    // so every '.' not followed by a digit goes.
    [GeneratedRegex(@"(?!<=\d)(\.)(?!\d)")]
    private static partial Regex PeriodStrip();

    [GeneratedRegex(@"(?<=\d)(\,)+(?=\d)")]
    private static partial Regex CommaStrip();

    /// <summary>Python passes <c>re.UNICODE</c> (= 32) as <c>sub</c>'s count argument, so at most 32
    /// periods are deleted.</summary>
    public const int PeriodStripCount = 32;

    /// <summary>The full processor: word_tokenize, newline/tab to space, punctuation, digits and articles.</summary>
    public static string Normalize(string answer)
    {
        string s = WordTokenize(answer);
        s = PyStrip(s.Replace("\n", " ").Replace("\t", " "));
        s = ProcessPunctuation(s);
        return ProcessDigitArticle(s);
    }

    /// <summary>Lowercase; delete ',' and '?'; "'s" becomes " 's"; trim.</summary>
    public static string WordTokenize(string word)
    {
        string s = word.ToLowerInvariant();
        s = s.Replace(",", "").Replace("?", "").Replace("'s", " 's");
        return PyStrip(s);
    }

    /// <summary>For each punctuation mark: deleted if it touches a space in the <em>input</em> (or the
    /// input has a digit,digit comma), otherwise replaced by a space; then periods not followed by a
    /// digit are deleted, at most 32 of them.</summary>
    public static string ProcessPunctuation(string inText)
    {
        string outText = inText;
        bool commaBetweenDigits = CommaStrip().IsMatch(inText);
        foreach (string p in Punctuations)
        {
            if (inText.Contains(p + " ", StringComparison.Ordinal) || inText.Contains(" " + p, StringComparison.Ordinal) || commaBetweenDigits)
                outText = outText.Replace(p, "");
            else
                outText = outText.Replace(p, " ");
        }
        return PeriodStrip().Replace(outText, "", PeriodStripCount);
    }

    /// <summary>Lowercase, split on whitespace, number words to digits, drop articles, expand
    /// contractions, join with single spaces.</summary>
    public static string ProcessDigitArticle(string inText)
    {
        var words = new List<string>();
        foreach (string raw in SplitWhitespace(inText.ToLowerInvariant()))
        {
            string word = NumberMap.TryGetValue(raw, out var digit) ? digit : raw;
            if (!Articles.Contains(word)) words.Add(word);
        }
        for (int i = 0; i < words.Count; i++)
            if (Contractions.TryGetValue(words[i], out var expanded)) words[i] = expanded;
        return string.Join(' ', words);
    }

    /// <summary>Python's <c>str.isspace</c> for one character: .NET's whitespace plus the four
    /// information separators U+001C–U+001F, which Python also splits and strips on.</summary>
    internal static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    static string PyStrip(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsPythonSpace(s[start])) start++;
        while (end > start && IsPythonSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>Python's <c>str.split()</c> with no argument: runs of whitespace separate, no empty parts.</summary>
    internal static IEnumerable<string> SplitWhitespace(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s)
        {
            if (IsPythonSpace(c))
            {
                if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
            }
            else sb.Append(c);
        }
        if (sb.Length > 0) yield return sb.ToString();
    }
}
