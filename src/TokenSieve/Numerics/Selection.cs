using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace TokenSieve.Numerics;

/// <summary>Deterministic selection shared by every method (METHODS §0.3): top-k with the tie rule
/// "higher value first, then lower index" (the stand-in for torch.topk's unspecified tie order),
/// quickselect, and the vectorised row top-k of PruMerge's neighbour search.</summary>
internal static class Selection
{
    /// <summary>Indices of the k largest values, largest first; equal values in ascending index
    /// order (the deterministic stand-in for torch.topk's unspecified tie order, METHODS §0.3).
    /// O(n) selection of the k-th value, then a sort of the k winners only.</summary>
    public static int[] TopK(ReadOnlySpan<float> values, int k)
    {
        int n = values.Length;
        if ((uint)k > (uint)n) throw new ArgumentOutOfRangeException(nameof(k));
        if (k == 0) return [];
        foreach (float v in values)
            if (float.IsNaN(v)) return SortedTopK(values, k);
        float threshold = KthSmallest(values.ToArray(), n - k); // the k-th largest value
        var keys = new float[k];
        var top = new int[k];
        int count = 0;
        for (int i = 0; i < n; i++)
            if (values[i] > threshold) { keys[count] = -values[i]; top[count++] = i; }
        for (int i = 0; i < n && count < k; i++) // ties at the threshold: lowest indices first
            if (values[i] == threshold) { keys[count] = -threshold; top[count++] = i; }
        Array.Sort(keys, top);
        for (int start = 0; start < k;) // equal values back in ascending index order
        {
            int end = start + 1;
            while (end < k && keys[end] == keys[start]) end++;
            if (end - start > 1) Array.Sort(top, start, end - start);
            start = end;
        }
        return top;
    }

    /// <summary>The NaN-safe path of <see cref="TopK"/>: a full comparison sort in which NaN ranks
    /// below every number (float.CompareTo's order), ties by lower index.</summary>
    static int[] SortedTopK(ReadOnlySpan<float> values, int k)
    {
        var order = new int[values.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        var copy = values.ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = copy[b].CompareTo(copy[a]);
            return c != 0 ? c : a.CompareTo(b);
        });
        return order[..k];
    }

    /// <summary>The same indices as <see cref="TopK"/>, sorted ascending (original order).</summary>
    public static int[] TopKAscending(ReadOnlySpan<float> values, int k)
    {
        var top = TopK(values, k);
        Array.Sort(top);
        return top;
    }

    /// <summary>The value of rank <paramref name="rank"/> (0 = smallest) of <paramref name="scratch"/>,
    /// which is reordered: afterwards scratch[rank] holds it, everything before is ≤ and everything
    /// after is ≥ (Hoare quickselect, median-of-three pivots). No NaN.</summary>
    public static float KthSmallest(Span<float> scratch, int rank)
    {
        if ((uint)rank >= (uint)scratch.Length) throw new ArgumentOutOfRangeException(nameof(rank));
        int lo = 0, hi = scratch.Length - 1;
        while (hi > lo)
        {
            int mid = lo + (hi - lo) / 2;
            if (scratch[mid] < scratch[lo]) (scratch[mid], scratch[lo]) = (scratch[lo], scratch[mid]);
            if (scratch[hi] < scratch[lo]) (scratch[hi], scratch[lo]) = (scratch[lo], scratch[hi]);
            if (scratch[hi] < scratch[mid]) (scratch[hi], scratch[mid]) = (scratch[mid], scratch[hi]);
            float pivot = scratch[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (scratch[i] < pivot) i++;
                while (scratch[j] > pivot) j--;
                if (i <= j)
                {
                    (scratch[i], scratch[j]) = (scratch[j], scratch[i]);
                    i++;
                    j--;
                }
            }
            if (rank <= j) hi = j;
            else if (rank >= i) lo = i;
            else break; // j < rank < i: scratch[rank] equals the pivot
        }
        return scratch[rank];
    }

    /// <summary>The k largest entries of <paramref name="row"/> (skipping index
    /// <paramref name="exclude"/>, −1 for none), written to <paramref name="result"/> in ascending
    /// index order. Ties keep the lower index. <paramref name="row"/> is used as scratch and
    /// restored. k ≤ the number of candidates; NaN entries are never candidates.</summary>
    /// <remarks>A vectorised pre-pass bounds the k-th largest value from below. For k ≤ 32 each of 16
    /// lanes keeps its ⌈k/16⌉ largest values (16 or 32 values in all, each ≥ the smallest kept
    /// lane's last one, so at least k entries are ≥ that bound); for larger k the row is cut into k
    /// interleaved sets and the bound is the smallest set maximum. Nothing below the bound can be in
    /// the top k. The few entries ≥ it are collected in index order by vector compares as
    /// order-preserving integer keys, the k-th largest key is built bit by bit with vector counts,
    /// and masks emit the winners (ties at the threshold: the lowest indices). No heap, no sort,
    /// no branch per candidate on the data.</remarks>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    public static void RowTopK(Span<float> row, int exclude, Span<int> result)
    {
        int k = result.Length, n = row.Length;
        if (k == 0) return;
        if ((uint)exclude >= (uint)n) exclude = -1;
        float saved = exclude >= 0 ? row[exclude] : 0f;
        if (exclude >= 0) row[exclude] = float.NegativeInfinity;
        try
        {
            float bound = float.NegativeInfinity;
            if (k <= 32 && Vector512.IsHardwareAccelerated)
            {
                // lanes short of ⌈k/16⌉ values keep −∞, which makes the bound −∞ (a full scan)
                var m1 = Vector512.Create(float.NegativeInfinity);
                var m2 = m1;
                int full = n / 16 * 16, j = 0;
                for (; j < full; j += 16)
                {
                    var v = Vector512.Create(row.Slice(j, 16));
                    m2 = Vector512.Max(m2, Vector512.Min(m1, v));
                    m1 = Vector512.Max(m1, v);
                }
                Span<float> first = stackalloc float[16], second = stackalloc float[16];
                m1.CopyTo(first);
                m2.CopyTo(second);
                for (; j < n; j++)
                {
                    int lane = j - full;
                    float v = row[j];
                    second[lane] = MathF.Max(second[lane], MathF.Min(first[lane], v));
                    first[lane] = MathF.Max(first[lane], v);
                }
                bound = MinAcross(Vector512.Create(k <= 16 ? first : second));
                if (float.IsNaN(bound)) bound = float.NegativeInfinity;
            }
            else if (n >= 2 * k)
            {
                Span<float> maxima = k <= 256 ? stackalloc float[k] : new float[k];
                row[..k].CopyTo(maxima);
                int full = n / k * k;
                for (int j = k; j < full; j += k) TensorPrimitives.Max(maxima, row.Slice(j, k), maxima);
                for (int j = full; j < n; j++) maxima[j - full] = MathF.Max(maxima[j - full], row[j]);
                bound = TensorPrimitives.Min(maxima);
                if (float.IsNaN(bound)) bound = float.NegativeInfinity; // NaN entries: fall back to a full scan
            }

            // candidates ≥ bound, ascending index, with their values as order-preserving unsigned
            // keys (the excluded entry is −∞: a candidate only when the bound is −∞, and then
            // dropped by index below)
            int[]? rentedIdx = null;
            uint[]? rentedKey = null;
            Span<int> idx = n <= 1024 ? stackalloc int[n] : (rentedIdx = System.Buffers.ArrayPool<int>.Shared.Rent(n));
            Span<uint> key = n <= 1024 ? stackalloc uint[n] : (rentedKey = System.Buffers.ArrayPool<uint>.Shared.Rent(n));
            int count = 0, j0 = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var b = Vector512.Create(bound);
                for (; j0 + 16 <= n; j0 += 16)
                {
                    var v = Vector512.Create(row.Slice(j0, 16));
                    ulong mask = Vector512.GreaterThanOrEqual(v, b).ExtractMostSignificantBits();
                    while (mask != 0)
                    {
                        int bit = BitOperations.TrailingZeroCount(mask);
                        mask &= mask - 1;
                        idx[count] = j0 + bit;
                        key[count++] = OrderKey(row[j0 + bit]);
                    }
                }
            }
            for (; j0 < n; j0++)
                if (row[j0] >= bound) { idx[count] = j0; key[count++] = OrderKey(row[j0]); }
            if (exclude >= 0 && bound == float.NegativeInfinity)
            {
                int at = idx[..count].IndexOf(exclude);
                if (at >= 0)
                {
                    idx[(at + 1)..count].CopyTo(idx[at..]);
                    key[(at + 1)..count].CopyTo(key[at..]);
                    count--;
                }
            }
            if (count < k) throw new ArgumentException($"row has {count} comparable candidates, fewer than k = {k} (NaN in the row?)", nameof(result));

            uint threshold = count == k ? 0 : KthLargestKey(key[..count], k);
            EmitTopK(key[..count], idx[..count], threshold, result);
            if (rentedIdx is not null) System.Buffers.ArrayPool<int>.Shared.Return(rentedIdx);
            if (rentedKey is not null) System.Buffers.ArrayPool<uint>.Shared.Return(rentedKey);
        }
        finally
        {
            if (exclude >= 0) row[exclude] = saved;
        }
    }

    /// <summary>A uint whose unsigned order is the float order of non-NaN values (−0 and +0 equal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static uint OrderKey(float v)
    {
        uint bits = v == 0f ? 0u : BitConverter.SingleToUInt32Bits(v);
        return bits ^ ((uint)((int)bits >> 31) | 0x8000_0000u);
    }

    /// <summary>The k-th largest key, built bit by bit from the top: keep a bit when at least k keys
    /// are ≥ the prefix with it set. 32 vector counting passes over the candidates, no branches on
    /// the data (selection by partitioning mispredicts on nearly every element).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    static uint KthLargestKey(ReadOnlySpan<uint> keys, int k)
    {
        uint prefix = 0;
        for (int bit = 31; bit >= 0; bit--)
        {
            uint trial = prefix | (1u << bit);
            int c = 0, i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var t = Vector512.Create(trial);
                for (; i + 16 <= keys.Length; i += 16)
                    c += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.Create(keys.Slice(i, 16)), t).ExtractMostSignificantBits());
            }
            for (; i < keys.Length; i++) c += keys[i] >= trial ? 1 : 0;
            if (c >= k) prefix = trial;
        }
        return prefix;
    }

    /// <summary>Writes, in candidate order, the candidates whose key is above
    /// <paramref name="threshold"/> and then as many of those equal to it (earliest first) as fill
    /// <paramref name="result"/>. Masks instead of per-candidate branches: which candidates win is
    /// data-dependent and would mispredict about once per candidate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    static void EmitTopK(ReadOnlySpan<uint> keys, ReadOnlySpan<int> indices, uint threshold, Span<int> result)
    {
        int k = result.Length, count = keys.Length, c = 0;
        int above = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var t = Vector512.Create(threshold);
            for (; c + 16 <= count; c += 16)
                above += BitOperations.PopCount(Vector512.GreaterThan(Vector512.Create(keys.Slice(c, 16)), t).ExtractMostSignificantBits());
        }
        for (; c < count; c++) above += keys[c] > threshold ? 1 : 0;
        int ties = k - above, o = 0;
        c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var t = Vector512.Create(threshold);
            for (; c + 16 <= count; c += 16)
            {
                var v = Vector512.Create(keys.Slice(c, 16));
                ulong take = Vector512.GreaterThan(v, t).ExtractMostSignificantBits();
                ulong eq = Vector512.Equals(v, t).ExtractMostSignificantBits();
                while (eq != 0 && ties > 0)
                {
                    take |= eq & (0 - eq); // lowest tie
                    eq &= eq - 1;
                    ties--;
                }
                while (take != 0)
                {
                    result[o++] = indices[c + BitOperations.TrailingZeroCount(take)];
                    take &= take - 1;
                }
            }
        }
        for (; c < count; c++)
        {
            uint v = keys[c];
            if (v > threshold || (v == threshold && ties-- > 0)) result[o++] = indices[c];
        }
    }

    static float MinAcross(Vector512<float> v)
    {
        var h = Vector256.Min(v.GetLower(), v.GetUpper());
        var q = Vector128.Min(h.GetLower(), h.GetUpper());
        float r = q[0];
        for (int i = 1; i < 4; i++) r = MathF.Min(r, q[i]);
        return r;
    }

}
