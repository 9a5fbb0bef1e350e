using System.Text;

namespace TokenSieve.Text;

/// <summary>Unicode Normalization Form C (UAX #15) in managed code, as Python's
/// <c>unicodedata.normalize("NFC", …)</c> computes it (the step <c>Qwen2Tokenizer.prepare_for_tokenization</c>
/// takes first). <c>string.Normalize</c> cannot be used: the repository builds with InvariantGlobalization, where
/// it returns its input unchanged (<c>"e\u0301"</c> stays two characters). The data come from Unicode 14.0.0,
/// the tables of the Python 3.11 that made the goldens (see UnicodeNfcCombiningClasses.cs, UnicodeNfcDecompositions.cs and their generator).
/// <para>Steps: full canonical decomposition (Hangul arithmetically), canonical ordering of each run of
/// non-starters by combining class (stable), then canonical composition: a character joins the last starter
/// when the pair is a primary composite and nothing between them blocks it (a character of class 0 or of a
/// class ≥ its own).</para></summary>
static partial class UnicodeNfc
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    sealed class Data
    {
        public readonly Dictionary<int, byte> CombiningClass = new();
        public readonly Dictionary<int, (int First, int Second)> Decomposition = new();
        public readonly Dictionary<long, int> Composition = new();
        /// <summary>BMP characters that can change under NFC: combining marks, characters with a
        /// decomposition that does not compose back (singletons, exclusions), and the second character of a
        /// composition pair (NFC_Quick_Check = Maybe). Text made only of other characters is already NFC.</summary>
        public readonly bool[] BmpUnstable = new bool[0x10000];
        public readonly HashSet<int> AstralUnstable = new();

        public Data()
        {
            var ranges = CombiningClassRanges;
            for (int i = 0; i < ranges.Length; i += 3)
                for (int cp = ranges[i]; cp <= ranges[i + 1]; cp++)
                {
                    CombiningClass[cp] = (byte)ranges[i + 2];
                    MarkUnstable(cp);
                }
            var d = CanonicalDecompositions;
            for (int i = 0; i < d.Length; i += 4)
            {
                int cp = d[i], first = d[i + 1], second = d[i + 2];
                Decomposition[cp] = (first, second);
                if (d[i + 3] == 1)
                {
                    Composition[Key(first, second)] = cp;
                    MarkUnstable(second);
                }
                else
                {
                    MarkUnstable(cp);
                }
            }
            for (int v = VBase; v < VBase + VCount; v++) MarkUnstable(v);
            for (int t = TBase + 1; t < TBase + TCount; t++) MarkUnstable(t);
        }

        void MarkUnstable(int cp)
        {
            if (cp < 0x10000) BmpUnstable[cp] = true;
            else AstralUnstable.Add(cp);
        }
    }

    static readonly Lazy<Data> _data = new(() => new Data());

    static long Key(int first, int second) => ((long)first << 21) | (uint)second;

    /// <summary>The NFC form of <paramref name="text"/>. Returns the same instance when nothing changes, the
    /// common case, found by one scan.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var data = _data.Value;
        if (IsStable(text, data)) return text;

        var buffer = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, buffer, data);
        Reorder(buffer, data);
        Compose(buffer, data);
        var sb = new StringBuilder(buffer.Count);
        foreach (int cp in buffer) sb.Append(new Rune(cp).ToString());
        return sb.ToString();
    }

    static bool IsStable(string text, Data data)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x300) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                if (data.AstralUnstable.Contains(char.ConvertToUtf32(c, text[i + 1]))) return false;
                i++;
            }
            else if (data.BmpUnstable[c])
            {
                return false;
            }
        }
        return true;
    }

    static void Decompose(int cp, List<int> output, Data data)
    {
        int s = cp - SBase;
        if ((uint)s < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (data.Decomposition.TryGetValue(cp, out var parts))
        {
            Decompose(parts.First, output, data);
            if (parts.Second >= 0) Decompose(parts.Second, output, data);
            return;
        }
        output.Add(cp);
    }

    static int ClassOf(int cp, Data data) => data.CombiningClass.TryGetValue(cp, out byte c) ? c : 0;

    /// <summary>Canonical ordering: each run of non-starters sorted by class, stably. Short runs (the normal
    /// case) by insertion; long ones by a keyed sort, so a flood of alternating marks stays O(n log n).</summary>
    static void Reorder(List<int> cps, Data data)
    {
        for (int start = 0; start < cps.Count;)
        {
            if (ClassOf(cps[start], data) == 0)
            {
                start++;
                continue;
            }
            int end = start;
            while (end < cps.Count && ClassOf(cps[end], data) != 0) end++;
            if (end - start <= 16) InsertionSort(cps, start, end, data);
            else KeyedSort(cps, start, end, data);
            start = end;
        }
    }

    static void InsertionSort(List<int> cps, int start, int end, Data data)
    {
        for (int i = start + 1; i < end; i++)
        {
            int cp = cps[i], cc = ClassOf(cp, data), j = i;
            while (j > start && ClassOf(cps[j - 1], data) > cc)
            {
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
    }

    static void KeyedSort(List<int> cps, int start, int end, Data data)
    {
        var keys = new long[end - start];
        var values = new int[end - start];
        for (int i = start; i < end; i++)
        {
            keys[i - start] = ((long)ClassOf(cps[i], data) << 32) | (uint)(i - start);  // position breaks ties: stable
            values[i - start] = cps[i];
        }
        Array.Sort(keys, values);
        for (int i = start; i < end; i++) cps[i] = values[i - start];
    }

    static void Compose(List<int> cps, Data data)
    {
        if (cps.Count == 0) return;
        int starterIndex = ClassOf(cps[0], data) == 0 ? 0 : -1;
        int lastClass = starterIndex == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int cp = cps[read];
            int cc = ClassOf(cp, data);
            // Blocked when something of a class ≥ this one stands between the starter and cp (a class-0
            // character in between would itself have become the starter).
            bool blocked = starterIndex < 0 || (lastClass != 0 && lastClass >= cc);
            if (!blocked && TryCompose(cps[starterIndex], cp, data, out int composite))
            {
                cps[starterIndex] = composite;
                continue;
            }
            if (cc == 0)
            {
                starterIndex = write;
                lastClass = 0;
            }
            else
            {
                lastClass = cc;
            }
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    static bool TryCompose(int first, int second, Data data, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if ((uint)l < LCount && (uint)v < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }
        int s = first - SBase, t = second - TBase;
        if ((uint)s < SCount && s % TCount == 0 && t > 0 && t < TCount)
        {
            composite = first + t;
            return true;
        }
        return data.Composition.TryGetValue(Key(first, second), out composite);
    }
}
