namespace TokenSieve.Pruning;

/// <summary>Emulates the iteration order of CPython's <c>set(list_of_small_non_negative_ints)</c>
/// (Objects/setobject.c, 3.10–3.12): open addressing with 9 linear probes then perturbed jumps,
/// growth to the smallest power of two above 4·used once 5·fill ≥ 3·mask, re-insertion in old slot
/// order. DART iterates its pivots in this order (METHODS.md §8 step 4), and its greedy, exclusive
/// picks depend on it.</summary>
internal static class CPythonSetOrder
{
    const int MinSize = 8, LinearProbes = 9, PerturbShift = 5;

    /// <summary>The order in which <c>for x in set(values)</c> visits the distinct values.</summary>
    public static int[] Of(IEnumerable<int> values)
    {
        long[] table = NewTable(MinSize);
        int fill = 0;
        foreach (int v in values)
        {
            if (v < 0) throw new ArgumentOutOfRangeException(nameof(values), "only non-negative ints hash to themselves");
            if (Contains(table, v)) continue;
            Insert(table, v);
            fill++;
            int mask = table.Length - 1;
            if (5L * fill >= 3L * mask)
            {
                int size = MinSize;
                while (size <= 4 * fill) size <<= 1;
                var grown = NewTable(size);
                foreach (long old in table)
                    if (old >= 0) Insert(grown, (int)old);
                table = grown;
            }
        }
        return table.Where(e => e >= 0).Select(e => (int)e).ToArray();
    }

    static long[] NewTable(int size)
    {
        var t = new long[size];
        Array.Fill(t, -1L);
        return t;
    }

    static bool Contains(long[] table, int v) => Array.IndexOf(table, (long)v) >= 0;

    static void Insert(long[] table, int hash)
    {
        ulong mask = (ulong)table.Length - 1, perturb = (ulong)hash, i = (ulong)hash & mask;
        while (true)
        {
            if (table[i] < 0) { table[i] = hash; return; }
            if (i + LinearProbes <= mask)
                for (ulong j = 1; j <= LinearProbes; j++)
                    if (table[i + j] < 0) { table[i + j] = hash; return; }
            perturb >>= PerturbShift;
            i = (i * 5 + 1 + perturb) & mask;
        }
    }
}
