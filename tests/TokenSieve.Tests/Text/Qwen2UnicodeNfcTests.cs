using System.Text.Json;
using TokenSieve.Text;

namespace TokenSieve.Tests.Text;

/// <summary>The tokenizer's own NFC against CPython's <c>unicodedata.normalize("NFC", …)</c> (Unicode 14.0.0, the
/// Python of the goldens): tests/data/unicode-nfc/nfc_vectors.json holds every character with a canonical
/// decomposition, raw and decomposed, Hangul syllables as jamo, and random mark sequences that exercise
/// reordering and blocking. Exact string equality.</summary>
public class Qwen2UnicodeNfcTests
{
    [Fact]
    public void Matches_python_on_every_vector()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "unicode-nfc", "nfc_vectors.json")));
        var vectors = doc.RootElement.GetProperty("vectors").EnumerateArray().ToList();
        Assert.True(vectors.Count > 4000);
        var failures = new List<string>();
        foreach (var v in vectors)
        {
            string input = v.GetProperty("input").GetString()!, expected = v.GetProperty("nfc").GetString()!;
            string actual = UnicodeNfc.Normalize(input);
            if (actual != expected) failures.Add($"{Hex(input)} → {Hex(actual)}, expected {Hex(expected)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {vectors.Count} differ, e.g. {string.Join("; ", failures.Take(5))}");
    }

    static string Hex(string s) => string.Join(" ", s.EnumerateRunes().Select(r => $"U+{r.Value:X4}"));

    [Fact]
    public void Already_normalised_text_is_returned_as_is()
    {
        string text = "Hello, 世界 — café 🙂";
        Assert.Same(text, UnicodeNfc.Normalize(text));
    }

    [Fact]
    public void Long_runs_of_marks_are_reordered_stably()
    {
        // 200k alternating marks of class 230 (U+0301) and 220 (U+0316) after a base with no precomposed form:
        // canonical order puts all 220s first, each class in input order. An insertion sort would need 10^10 moves.
        string marks = string.Concat(Enumerable.Repeat("\u0301\u0316", 100_000));
        string expected = "x" + new string('\u0316', 100_000) + new string('\u0301', 100_000) + "y";
        Assert.Equal(expected, UnicodeNfc.Normalize("x" + marks + "y"));
        // Same rule on a short run (insertion path): 0301 0316 0323 → 0316 0323 (both 220, input order) 0301.
        Assert.Equal("x\u0316\u0323\u0301", UnicodeNfc.Normalize("x\u0301\u0316\u0323"));
    }

    [Fact]
    public void Invariant_globalization_is_why_this_exists()
    {
        // The repository builds with InvariantGlobalization; there string.Normalize is the identity. If that
        // ever changes this test says so, and UnicodeNfc could be replaced by the runtime's.
        Assert.Equal(2, "e\u0301".Normalize(System.Text.NormalizationForm.FormC).Length);
        Assert.Equal("\u00e9", UnicodeNfc.Normalize("e\u0301"));
    }
}
