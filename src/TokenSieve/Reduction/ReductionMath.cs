using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace TokenSieve.Reduction;

/// <summary>Helpers shared by the reduction methods: finiteness checks, deterministic top-k,
/// numpy percentiles and the IQR fence.</summary>
public static class ReductionMath
{
    /// <summary>Throws <see cref="InvalidInputException"/> naming <paramref name="tensor"/> and the
    /// first NaN/Inf position.</summary>
    public static void RequireFinite(ReadOnlySpan<float> values, string tensor, string spec)
    {
        int i = IndexOfNonFinite(values);
        if (i >= 0)
            throw new InvalidInputException($"{spec}: tensor '{tensor}' has a non-finite value ({values[i]}) at flat index {i}");
    }

    /// <summary>The first NaN/±Inf position, or −1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        var vs = System.Runtime.InteropServices.MemoryMarshal.Cast<float, Vector<float>>(values);
        // x − x is 0 for finite x and NaN for NaN and ±Inf; scan whole vectors, then locate.
        int v = 0;
        while (v < vs.Length && Vector.EqualsAll(vs[v] - vs[v], Vector<float>.Zero)) v++;
        i = v * Vector<float>.Count;
        for (; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    /// <summary>Indices of the k largest values, largest first; equal values in ascending index
    /// order (the deterministic stand-in for torch.topk's unspecified tie order, METHODS §0.3).
    /// O(n) selection of the k-th value, then a sort of the k winners only.</summary>
    public static int[] TopKDescending(ReadOnlySpan<float> values, int k)
    {
        int n = values.Length;
        if ((uint)k > (uint)n) throw new ArgumentOutOfRangeException(nameof(k));
        if (k == 0) return [];
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

    /// <summary>numpy.percentile(values, q) with the default 'linear' method: the order statistics
    /// v⌊h⌋ and v⌊h⌋+1 at h = (n−1)·q/100 combined by numpy 1.24's _lerp (including its t ≥ 0.5
    /// branch), in float64. <paramref name="scratch"/> is a copy of the values that gets reordered;
    /// q in [0, 100].</summary>
    public static double NumpyPercentile(Span<float> scratch, double q)
    {
        int n = scratch.Length;
        double h = (n - 1) * (q / 100.0);
        int lo = (int)Math.Floor(h);
        double a = KthSmallest(scratch, lo);
        double b = lo + 1 < n ? TensorPrimitives.Min(scratch[(lo + 1)..]) : a; // the next order statistic
        double t = h - lo;
        double diff = b - a;
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    /// <summary>The IQR upper fence Q3 + 1.5·(Q3 − Q1) of <paramref name="values"/> with numpy
    /// linear percentiles (PruMerge's outlier_dectection), O(n) by selection.</summary>
    public static (double Q1, double Q3, double Fence) IqrUpperFence(ReadOnlySpan<float> values)
    {
        var scratch = values.ToArray();
        double q1 = NumpyPercentile(scratch, 25), q3 = NumpyPercentile(scratch, 75);
        return (q1, q3, q3 + 1.5 * (q3 - q1));
    }

    /// <summary>1 / max(‖row‖₂, eps) for each row of a [rows, cols] matrix (F.normalize's clamp).</summary>
    public static float[] InverseRowNorms(ReadOnlySpan<float> m, int rows, int cols, float eps)
    {
        var inv = new float[rows];
        for (int i = 0; i < rows; i++)
            inv[i] = 1f / MathF.Max(TensorPrimitives.Norm(m.Slice(i * cols, cols)), eps);
        return inv;
    }

    /// <summary>(a·b, b·b) in one pass over b: each row of a key matrix is read once for the [CLS]
    /// logit and its norm. Four interleaved partial sums per product, added pairwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    public static (float Dot, float Square) DotAndSquare(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("DotAndSquare: lengths differ");
        int n = a.Length, i = 0;
        float dot, square;
        if (Vector512.IsHardwareAccelerated && n >= 64)
        {
            Vector512<float> d0 = default, d1 = default, d2 = default, d3 = default, s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= n; i += 64)
            {
                var b0 = Vector512.Create(b.Slice(i, 16)); var b1 = Vector512.Create(b.Slice(i + 16, 16));
                var b2 = Vector512.Create(b.Slice(i + 32, 16)); var b3 = Vector512.Create(b.Slice(i + 48, 16));
                d0 = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i, 16)), b0, d0);
                d1 = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i + 16, 16)), b1, d1);
                d2 = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i + 32, 16)), b2, d2);
                d3 = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i + 48, 16)), b3, d3);
                s0 = Vector512.FusedMultiplyAdd(b0, b0, s0);
                s1 = Vector512.FusedMultiplyAdd(b1, b1, s1);
                s2 = Vector512.FusedMultiplyAdd(b2, b2, s2);
                s3 = Vector512.FusedMultiplyAdd(b3, b3, s3);
            }
            dot = Vector512.Sum((d0 + d1) + (d2 + d3));
            square = Vector512.Sum((s0 + s1) + (s2 + s3));
        }
        else dot = square = 0f;
        for (; i < n; i++)
        {
            dot = MathF.FusedMultiplyAdd(a[i], b[i], dot);
            square = MathF.FusedMultiplyAdd(b[i], b[i], square);
        }
        return (dot, square);
    }

    /// <summary>Softmax over <paramref name="logits"/> in place (max-subtracted, float64 sum).</summary>
    public static void SoftmaxInPlace(Span<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float e = MathF.Exp(logits[i] - max);
            logits[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(logits, (float)(1.0 / sum), logits);
    }

    /// <summary>y = Σ_s weights[s] · m[rows[s]] over rows of a [*, cols] matrix. The sum runs over
    /// the rows in the given order for each column chunk with the accumulators in registers, so
    /// y is written once instead of read and written per row (the merge sums of PruMerge).</summary>
    public static void WeightedRowSum(ReadOnlySpan<float> m, int cols, ReadOnlySpan<int> rows, ReadOnlySpan<float> weights, Span<float> y) =>
        WeightedRowSum(m, cols, 0, cols, rows, weights, y);

    /// <summary>As above over the column window [<paramref name="offset"/>, offset + width) of
    /// rows of length <paramref name="stride"/>; y has width entries. Callers that sum many
    /// outputs from one matrix sweep the windows outermost, so each window of the matrix stays in
    /// cache while every output reads it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // called once per image: no slow first tier
    public static void WeightedRowSum(ReadOnlySpan<float> m, int stride, int offset, int width, ReadOnlySpan<int> rows, ReadOnlySpan<float> weights, Span<float> y)
    {
        if (rows.Length != weights.Length) throw new ArgumentException("rows and weights differ in length", nameof(weights));
        if (offset < 0 || width < 0 || offset + width > stride || y.Length < width) throw new ArgumentOutOfRangeException(nameof(width));
        m = m[offset..];
        int cols = width;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // eight independent accumulators: two FMAs per cycle despite the 4-cycle FMA latency
            for (; j + 128 <= cols; j += 128)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int s = 0; s < rows.Length; s++)
                {
                    var w = Vector512.Create(weights[s]);
                    var r = m.Slice(rows[s] * stride + j, 128);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(r), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(r[16..]), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(r[32..]), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(r[48..]), w, a3);
                    a4 = Vector512.FusedMultiplyAdd(Vector512.Create(r[64..]), w, a4);
                    a5 = Vector512.FusedMultiplyAdd(Vector512.Create(r[80..]), w, a5);
                    a6 = Vector512.FusedMultiplyAdd(Vector512.Create(r[96..]), w, a6);
                    a7 = Vector512.FusedMultiplyAdd(Vector512.Create(r[112..]), w, a7);
                }
                a0.CopyTo(y[j..]);
                a1.CopyTo(y[(j + 16)..]);
                a2.CopyTo(y[(j + 32)..]);
                a3.CopyTo(y[(j + 48)..]);
                a4.CopyTo(y[(j + 64)..]);
                a5.CopyTo(y[(j + 80)..]);
                a6.CopyTo(y[(j + 96)..]);
                a7.CopyTo(y[(j + 112)..]);
            }
            for (; j + 64 <= cols; j += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < rows.Length; s++)
                {
                    var w = Vector512.Create(weights[s]);
                    var r = m.Slice(rows[s] * stride + j, 64);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(r), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(r[16..]), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(r[32..]), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(r[48..]), w, a3);
                }
                a0.CopyTo(y[j..]);
                a1.CopyTo(y[(j + 16)..]);
                a2.CopyTo(y[(j + 32)..]);
                a3.CopyTo(y[(j + 48)..]);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; j + 32 <= cols; j += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < rows.Length; s++)
                {
                    var w = Vector256.Create(weights[s]);
                    var r = m.Slice(rows[s] * stride + j, 32);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Create(r), w, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.Create(r[8..]), w, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Create(r[16..]), w, a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.Create(r[24..]), w, a3);
                }
                a0.CopyTo(y[j..]);
                a1.CopyTo(y[(j + 8)..]);
                a2.CopyTo(y[(j + 16)..]);
                a3.CopyTo(y[(j + 24)..]);
            }
        }
        for (; j < cols; j++)
        {
            float acc = 0;
            for (int s = 0; s < rows.Length; s++) acc = MathF.FusedMultiplyAdd(m[rows[s] * stride + j], weights[s], acc);
            y[j] = acc;
        }
    }

    /// <summary>Gathers rows <paramref name="indices"/> of a [*, cols] matrix into a new [k, cols] array.</summary>
    public static float[] GatherRows(ReadOnlySpan<float> m, int cols, ReadOnlySpan<int> indices)
    {
        var r = new float[indices.Length * cols];
        for (int i = 0; i < indices.Length; i++) m.Slice(indices[i] * cols, cols).CopyTo(r.AsSpan(i * cols, cols));
        return r;
    }
}
