using System.Numerics;
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
    /// <paramref name="exclude"/>, −1 for none), written to <paramref name="result"/> in no
    /// particular order. Ties keep the lower index. <paramref name="row"/> is used as scratch and
    /// restored. k ≤ the number of candidates.</summary>
    /// <remarks>A vectorised pre-pass bounds the k-th largest value from below: the row is cut into
    /// k interleaved sets (j mod k), each set's maximum is ≥ the bound t = min of the maxima, so at
    /// least k entries are ≥ t and nothing below t can be in the top k. Only the few entries ≥ t
    /// then go through the min-heap, which keeps its branches predictable.</remarks>
    public static void RowTopK(Span<float> row, int exclude, Span<int> result)
    {
        int k = result.Length, n = row.Length;
        if (k == 0) return;
        float saved = exclude >= 0 ? row[exclude] : 0f;
        if (exclude >= 0) row[exclude] = float.NegativeInfinity;
        float bound = float.NegativeInfinity;
        if (n >= 2 * k)
        {
            Span<float> maxima = k <= 256 ? stackalloc float[k] : new float[k];
            row[..k].CopyTo(maxima);
            int full = n / k * k;
            for (int j = k; j < full; j += k) TensorPrimitives.Max(maxima, row.Slice(j, k), maxima);
            for (int j = full; j < n; j++) maxima[j - full] = MathF.Max(maxima[j - full], row[j]);
            bound = TensorPrimitives.Min(maxima);
        }
        if (exclude >= 0) row[exclude] = saved;

        // Heap of the best k so far, root = the worst kept (smallest value; among equal values the
        // larger index). Scanning indices in ascending order, a later equal value never displaces.
        Span<float> hv = k <= 256 ? stackalloc float[k] : new float[k];
        int size = 0;
        for (int j = 0; j < n; j++)
        {
            float v = row[j];
            if (v < bound || j == exclude) continue;
            if (size < k)
            {
                int pos = size++;
                while (pos > 0)
                {
                    int parent = (pos - 1) >> 1;
                    if (!Worse(v, j, hv[parent], result[parent])) break;
                    hv[pos] = hv[parent];
                    result[pos] = result[parent];
                    pos = parent;
                }
                hv[pos] = v;
                result[pos] = j;
            }
            else if (v > hv[0])
            {
                int pos = 0;
                while (true)
                {
                    int l = 2 * pos + 1;
                    if (l >= k) break;
                    int r = l + 1;
                    int w = r < k && Worse(hv[r], result[r], hv[l], result[l]) ? r : l;
                    if (!Worse(hv[w], result[w], v, j)) break;
                    hv[pos] = hv[w];
                    result[pos] = result[w];
                    pos = w;
                }
                hv[pos] = v;
                result[pos] = j;
            }
        }
        if (size < k) throw new ArgumentException("row has fewer candidates than k", nameof(result));

        static bool Worse(float v1, int i1, float v2, int i2) => v1 < v2 || (v1 == v2 && i1 > i2);
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
    public static void WeightedRowSum(ReadOnlySpan<float> m, int stride, int offset, int width, ReadOnlySpan<int> rows, ReadOnlySpan<float> weights, Span<float> y)
    {
        if (rows.Length != weights.Length) throw new ArgumentException("rows and weights differ in length", nameof(weights));
        if (offset < 0 || width < 0 || offset + width > stride || y.Length < width) throw new ArgumentOutOfRangeException(nameof(width));
        m = m[offset..];
        int cols = width;
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
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
