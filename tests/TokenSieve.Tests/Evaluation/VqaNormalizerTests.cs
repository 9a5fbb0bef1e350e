using TokenSieve.Evaluation;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Expected strings were worked out by hand from the reference's steps and confirmed by
/// running the EvalAIAnswerProcessor algorithm in CPython 3.11 (same regexes, same count quirk).</summary>
public class VqaNormalizerTests
{
    [Theory]
    [InlineData("The Dog.", "dog")]                    // lowercase, period, article
    [InlineData("  An  apple!! ", "apple")]             // '!' not touching a space → space; article dropped
    [InlineData("Two dogs", "2 dogs")]                  // number word
    [InlineData("none", "0")]
    [InlineData("ten", "10")]
    [InlineData("eleven", "eleven")]                    // only zero..ten are mapped
    [InlineData("dont", "don't")]                       // contractions table
    [InlineData("Whats up.", "what's up")]
    [InlineData("oclock", "o'clock")]
    [InlineData("somebody'd", "somebodyd")]             // the table's backwards entry, kept
    [InlineData("Im", "im")]                            // capitalised keys never match after lowercasing
    [InlineData("it's red", "it 's red")]               // word_tokenize splits 's
    [InlineData("1,000", "1000")]                       // commas deleted in word_tokenize
    [InlineData("3.5 m.", "3.5 m")]                     // '.' before a digit stays
    [InlineData("no. 5.0.", "no 5.0")]
    [InlineData("a.b", "ab")]
    [InlineData("e.g. u.s.a.", "eg usa")]
    [InlineData("well-known", "well known")]            // '-' not next to a space → space
    [InlineData("x - y", "x y")]                        // '-' next to a space → deleted
    [InlineData("hello , world", "hello world")]
    [InlineData("(left) side!", "left side")]
    [InlineData("<b>bold</b>", "b bold b")]
    [InlineData("red/blue", "red blue")]
    [InlineData("#1 & $5", "#1 & $5")]                  // '#', '&', '$' are not in the list
    [InlineData("50%", "50%")]
    [InlineData("What?", "what")]
    [InlineData("yes\nno", "yes no")]
    [InlineData("yes\tno", "yes no")]
    [InlineData("yes\u001fno\u001c", "yes no")]    // Python's split/strip also treat U+001C–U+001F as spaces
    public void Normalize_MatchesReference(string input, string expected) =>
        Assert.Equal(expected, VqaNormalizer.Normalize(input));

    [Fact]
    public void PeriodStrip_DeletesAtMost32Periods()
    {
        // Python passes re.UNICODE (=32) as sub()'s count: of 40 periods, 8 survive.
        Assert.Equal(new string('.', 8), VqaNormalizer.Normalize(new string('.', 40)));
        Assert.Equal("", VqaNormalizer.Normalize(new string('.', 32)));
    }

    [Theory]
    [InlineData("1,000 well-known", "1000 wellknown")]  // a digit,digit comma anywhere → every mark is deleted
    [InlineData("x,y well-known", "x y well known")]    // no digit comma → marks become spaces
    [InlineData("a ;b", "a b")]
    [InlineData("a;b", "a b")]
    [InlineData("a.b.c", "abc")]
    public void ProcessPunctuation_CommaBetweenDigitsCondition(string input, string expected) =>
        Assert.Equal(expected, VqaNormalizer.ProcessPunctuation(input));

    [Fact]
    public void ContractionsTable_HasTheReferenceSize()
    {
        // m4c_evaluator.py's CONTRACTIONS has 120 entries.
        Assert.Equal(120, VqaNormalizer.Contractions.Count);
        Assert.Equal("y'all'd've", VqaNormalizer.Contractions["yall'd've"]);
    }

    [Theory]
    [InlineData(7, 1.0)]       // ≥4 matches: every leave-one-out subset has ≥3
    [InlineData(3, 0.9)]       // 3 matching: (3·2/3 + 7·1) / 10
    [InlineData(2, 0.6)]       // (2·1/3 + 8·2/3) / 10
    [InlineData(1, 0.3)]       // (1·0 + 9·1/3) / 10
    [InlineData(0, 0.0)]
    public void VqaAccuracy_LeaveOneOut(int matching, double expected)
    {
        var gts = Enumerable.Range(0, 10).Select(i => i < matching ? (i % 2 == 0 ? "Two" : "2") : $"other{i}").ToArray();
        // "Two" and "2" normalise to the same answer. Tolerance: exact sums of thirds, 1e-12.
        Assert.Equal(expected, VqaAccuracy.Score("2.", gts), 12);
    }
}
