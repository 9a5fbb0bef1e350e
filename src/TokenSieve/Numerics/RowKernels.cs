using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Numerics.Tensors;

namespace TokenSieve.Numerics;

/// <summary>Row-wise vector kernels of the reduction and pruning methods: finiteness scans, norms,
/// softmax, weighted row sums, gathers and head means.</summary>
internal static class RowKernels
{
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

    /// <summary>mean[j] = (1/heads)·Σ_h rows[h·stride + offset + j] for j &lt; length: the head mean of
    /// per-head attention rows stored one after another (stride apart).</summary>
    public static float[] HeadMean(ReadOnlySpan<float> rows, int heads, int stride, int offset, int length)
    {
        var mean = new float[length];
        for (int h = 0; h < heads; h++) TensorPrimitives.Add(mean, rows.Slice(h * stride + offset, length), mean);
        TensorPrimitives.Multiply(mean, 1f / heads, mean);
        return mean;
    }
}
