using System.Text.Json;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The hand-written scanner against Python's <c>regex</c> module running Qwen2's pattern
/// (<c>regex.findall(PRETOKENIZE_REGEX, text)</c>, expected lists produced with regex 2026.5.9 on CPython 3.11).
/// Chosen for the places a port goes wrong: the last space of a run, line breaks inside white space, the
/// case-insensitive contractions (incl. U+017F ſ), astral letters and digits, and characters that Python's
/// <c>str.isspace</c> counts as space but <c>\s</c> does not (U+001C).</summary>
public class Qwen2PreTokenizerTests
{
    [Theory]
    [InlineData("two  spaces   three", "[\"two\", \" \", \" spaces\", \"  \", \" three\"]")]
    [InlineData("a \n\n  b", "[\"a\", \" \\n\\n\", \" \", \" b\"]")]
    [InlineData("  \t x", "[\"  \\t\", \" x\"]")]
    [InlineData("x   ", "[\"x\", \"   \"]")]
    [InlineData("IT'S 'Re 'LL 'x", "[\"IT\", \"'S\", \" '\", \"Re\", \" '\", \"LL\", \" '\", \"x\"]")]
    [InlineData("'\u017fx", "[\"'\\u017f\", \"x\"]")]
    [InlineData("don'tt", "[\"don\", \"'t\", \"t\"]")]
    [InlineData("\u00a0word\u3000\u3000w", "[\"\\u00a0word\", \"\\u3000\", \"\\u3000w\"]")]
    [InlineData("\ud835\udfcf\ud835\udfd0\ud835\udfd1 \ud835\udc07i", "[\"\\ud835\\udfcf\", \"\\ud835\\udfd0\", \"\\ud835\\udfd1\", \" \\ud835\\udc07i\"]")]
    [InlineData("a\u001cb \u001c c", "[\"a\", \"\\u001cb\", \" \\u001c\", \" c\"]")]
    [InlineData("!!! ???\r\n\r\nx", "[\"!!!\", \" ???\\r\\n\\r\\n\", \"x\"]")]
    [InlineData(" \r\n", "[\" \\r\\n\"]")]
    [InlineData("\u20ac100 \u00bdx", "[\"\\u20ac\", \"1\", \"0\", \"0\", \" \", \"\\u00bd\", \"x\"]")]
    [InlineData("ab12cd", "[\"ab\", \"1\", \"2\", \"cd\"]")]
    [InlineData("\u0085x\u200bz", "[\"\\u0085x\", \"\\u200bz\"]")]
    [InlineData("' s", "[\"'\", \" s\"]")]
    [InlineData("a'", "[\"a\", \"'\"]")]
    [InlineData("x\r\r\ny", "[\"x\", \"\\r\\r\\n\", \"y\"]")]
    [InlineData("\ud83d\ude42\ud83d\ude42 x", "[\"\\ud83d\\ude42\\ud83d\\ude42\", \" x\"]")]
    [InlineData("\u00e9t\u00e9", "[\"\\u00e9t\\u00e9\"]")]
    public void Splits_like_the_python_regex(string text, string expectedJson)
    {
        var expected = JsonSerializer.Deserialize<string[]>(expectedJson)!;
        Assert.Equal(expected, Qwen2PreTokenizer.Split(text));
    }

    [Fact]
    public void Pieces_tile_the_text()
    {
        var rng = new Random(11);
        string alphabet = " \t\n\r a'sZ9½€!中\u00a0\u3000\u001c";
        for (int trial = 0; trial < 300; trial++)
        {
            var chars = Enumerable.Range(0, rng.Next(1, 40)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray();
            string text = new(chars);
            var pieces = Qwen2PreTokenizer.Split(text);
            Assert.All(pieces, p => Assert.NotEmpty(p));
            Assert.Equal(text, string.Concat(pieces));
        }
    }
}
