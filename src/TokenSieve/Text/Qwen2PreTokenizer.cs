using System.Globalization;
using System.Text;

namespace TokenSieve.Text;

/// <summary>Qwen2's pre-tokenisation regex, evaluated over <b>code points</b> as Python's <c>regex</c> module does:
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// It is a hand-written scanner, not System.Text.RegularExpressions: .NET's regex sees UTF-16 code units, so
/// <c>\p{L}</c> / <c>\p{N}</c> miss every character outside the BMP (the astral digits of <c>𝟏𝟐𝟑</c> would stop
/// being one pre-token each), and a scanner is linear on long runs. Each branch below is the regex alternative
/// of the same number, tried in order; the first that matches at a position wins, as in the regex.
/// <list type="bullet">
/// <item><c>\s</c> is the <c>regex</c> module's: Unicode White_Space (not Python <c>str.isspace</c>, which adds
/// U+001C..U+001F).</item>
/// <item><c>(?i:…)</c> matches the ASCII letters of both cases and U+017F ſ for s, U+212A is not involved
/// (no k in the contractions): simple case folding, as the regex module applies.</item>
/// <item>Letters and numbers are general categories L* and N* from .NET's Unicode tables; the reference's
/// <c>regex</c> 2022.10.31 has Unicode 15.0, so only characters assigned later can differ.</item>
/// </list></summary>
internal static class Qwen2PreTokenizer
{
    enum Kind : byte { Letter, Number, Space, LineBreak, Other }

    /// <summary>Calls <paramref name="onPiece"/> with (start, length) in UTF-16 units for each pre-token of
    /// <paramref name="text"/>, in order; the pieces tile the text. <paramref name="text"/> must be valid
    /// UTF-16 (lone surrogates replaced beforehand).</summary>
    public static void Split<TState>(ReadOnlySpan<char> text, ref TState state, PieceHandler<TState> onPiece)
    {
        int i = 0;
        while (i < text.Length)
        {
            int end = Match(text, i);
            onPiece(ref state, i, end - i);
            i = end;
        }
    }

    public delegate void PieceHandler<TState>(ref TState state, int start, int length);

    /// <summary>The pre-tokens as strings (for tests and diagnostics).</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            int end = Match(text, i);
            pieces.Add(text[i..end]);
            i = end;
        }
        return pieces;
    }

    /// <summary>The end (exclusive, UTF-16 index) of the regex match that starts at <paramref name="i"/>.</summary>
    static int Match(ReadOnlySpan<char> s, int i)
    {
        var (k0, n0) = At(s, i);
        int i1 = i + n0;

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (s[i] == '\'' && i1 < s.Length)
        {
            char a = s[i1];
            char b = i1 + 1 < s.Length ? s[i1 + 1] : '\0';
            if (Is(a, 's') || a == '\u017F' || Is(a, 't') || Is(a, 'm') || Is(a, 'd')) return i1 + 1;
            if ((Is(a, 'r') && Is(b, 'e')) || (Is(a, 'v') && Is(b, 'e')) || (Is(a, 'l') && Is(b, 'l'))) return i1 + 2;
        }

        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if (k0 == Kind.Letter) return LetterRunEnd(s, i1);
        if (k0 is Kind.Space or Kind.Other && i1 < s.Length && At(s, i1).Kind == Kind.Letter) return LetterRunEnd(s, i1);

        // 3. \p{N}
        if (k0 == Kind.Number) return i1;

        // 4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
        int otherStart = k0 == Kind.Other ? i : s[i] == ' ' && i1 < s.Length && At(s, i1).Kind == Kind.Other ? i1 : -1;
        if (otherStart >= 0)
        {
            int j = otherStart;
            while (j < s.Length)
            {
                var (k, n) = At(s, j);
                if (k != Kind.Other) break;
                j += n;
            }
            while (j < s.Length && s[j] is '\r' or '\n') j++;
            return j;
        }

        // The current character is white space (Space or LineBreak): the remaining alternatives.
        // Maximal white-space run [i, runEnd), and the end of its last line break.
        int runEnd = i, lastBreakEnd = -1;
        while (runEnd < s.Length)
        {
            var (k, n) = At(s, runEnd);
            if (k == Kind.LineBreak) lastBreakEnd = runEnd + n;
            else if (k != Kind.Space) break;
            runEnd += n;
        }

        // 5. \s*[\r\n]+ : backtracks to the last line break of the run.
        if (lastBreakEnd >= 0) return lastBreakEnd;

        // 6. \s+(?!\S) : the whole run at the end of the text, else all but its last character.
        if (runEnd == s.Length) return runEnd;
        int lastStart = runEnd - 1;  // white space is always in the BMP: one UTF-16 unit each
        if (lastStart > i) return lastStart;

        // 7. \s+ : a single white-space character before a non-space.
        return runEnd;
    }

    static bool Is(char c, char lower) => c == lower || c == char.ToUpperInvariant(lower);

    static int LetterRunEnd(ReadOnlySpan<char> s, int j)
    {
        while (j < s.Length)
        {
            var (k, n) = At(s, j);
            if (k != Kind.Letter) break;
            j += n;
        }
        return j;
    }

    /// <summary>The class of the code point at <paramref name="i"/> and its length in UTF-16 units.</summary>
    static (Kind Kind, int Length) At(ReadOnlySpan<char> s, int i)
    {
        char c = s[i];
        if (c < 0x80)
        {
            if (c is '\r' or '\n') return (Kind.LineBreak, 1);
            if (c is ' ' or (>= '\t' and <= '\f')) return (Kind.Space, 1);
            if (char.IsAsciiLetter(c)) return (Kind.Letter, 1);
            if (char.IsAsciiDigit(c)) return (Kind.Number, 1);
            return (Kind.Other, 1);
        }
        Rune.DecodeFromUtf16(s[i..], out var rune, out int length);
        if (IsWhiteSpace(rune.Value)) return (Kind.Space, length);
        return (Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        }, length);
    }

    /// <summary>Unicode White_Space beyond ASCII: what <c>\s</c> matches in the <c>regex</c> module.</summary>
    static bool IsWhiteSpace(int cp)
        => cp is 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;
}
