using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TokenSieve.Lab.Training;

/// <summary>The trainer's fp32 matrix products, in the axpy form C[i,:] += A[i,k]·B[k,:] that
/// vectorises along the output row. A is read through strides, so the same kernel computes A·B
/// and Aᵀ·B. Each output element is summed over k in ascending order, so results do not depend
/// on the vector width or the blocking. A plain scalar <see cref="Reference"/> sits beside it.</summary>
internal static unsafe class MatMul
{
    /// <summary>C[M,N] (+)= A·B with a(i,k) = A[i·aRow + k·aCol], B [K,N] and C [M,N] row-major.</summary>
    public static void Multiply(ReadOnlySpan<float> a, int aRow, int aCol, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, bool accumulate)
    {
        if (!accumulate) c[..(m * n)].Clear();
        if (m == 0 || n == 0 || k == 0) return;
        if ((long)(m - 1) * aRow + (long)(k - 1) * aCol >= a.Length) throw new ArgumentException("A is smaller than its strides say");
        if (b.Length < k * n || c.Length < m * n) throw new ArgumentException($"B or C too small for [{m},{k}]·[{k},{n}]");
        fixed (float* pa = a, pb = b, pc = c)
        {
            int i = 0;
            for (; i + 4 <= m; i += 4) Rows4(pa + (long)i * aRow, aRow, aCol, pb, pc + (long)i * n, k, n);
            for (; i < m; i++) Row1(pa + (long)i * aRow, aCol, pb, pc + (long)i * n, k, n);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Rows4(float* a, int aRow, int aCol, float* b, float* c, int k, int n)
    {
        float* c0 = c, c1 = c + n, c2 = c + 2 * n, c3 = c + 3 * n;
        float* a0 = a, a1 = a + aRow, a2 = a + 2 * aRow, a3 = a + 3 * aRow;
        int j = 0;
        for (; j + 16 <= n; j += 16)
        {
            var x00 = Vector256.Load(c0 + j); var x01 = Vector256.Load(c0 + j + 8);
            var x10 = Vector256.Load(c1 + j); var x11 = Vector256.Load(c1 + j + 8);
            var x20 = Vector256.Load(c2 + j); var x21 = Vector256.Load(c2 + j + 8);
            var x30 = Vector256.Load(c3 + j); var x31 = Vector256.Load(c3 + j + 8);
            for (int p = 0; p < k; p++)
            {
                float* bp = b + (long)p * n + j;
                var b0 = Vector256.Load(bp); var b1 = Vector256.Load(bp + 8);
                long o = (long)p * aCol;
                var s0 = Vector256.Create(a0[o]); var s1 = Vector256.Create(a1[o]);
                var s2 = Vector256.Create(a2[o]); var s3 = Vector256.Create(a3[o]);
                x00 = Vector256.FusedMultiplyAdd(s0, b0, x00); x01 = Vector256.FusedMultiplyAdd(s0, b1, x01);
                x10 = Vector256.FusedMultiplyAdd(s1, b0, x10); x11 = Vector256.FusedMultiplyAdd(s1, b1, x11);
                x20 = Vector256.FusedMultiplyAdd(s2, b0, x20); x21 = Vector256.FusedMultiplyAdd(s2, b1, x21);
                x30 = Vector256.FusedMultiplyAdd(s3, b0, x30); x31 = Vector256.FusedMultiplyAdd(s3, b1, x31);
            }
            x00.Store(c0 + j); x01.Store(c0 + j + 8); x10.Store(c1 + j); x11.Store(c1 + j + 8);
            x20.Store(c2 + j); x21.Store(c2 + j + 8); x30.Store(c3 + j); x31.Store(c3 + j + 8);
        }
        for (; j + 8 <= n; j += 8)
        {
            var x0 = Vector256.Load(c0 + j); var x1 = Vector256.Load(c1 + j);
            var x2 = Vector256.Load(c2 + j); var x3 = Vector256.Load(c3 + j);
            for (int p = 0; p < k; p++)
            {
                var bv = Vector256.Load(b + (long)p * n + j);
                long o = (long)p * aCol;
                x0 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[o]), bv, x0);
                x1 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[o]), bv, x1);
                x2 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[o]), bv, x2);
                x3 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[o]), bv, x3);
            }
            x0.Store(c0 + j); x1.Store(c1 + j); x2.Store(c2 + j); x3.Store(c3 + j);
        }
        for (; j < n; j++)
        {
            float y0 = c0[j], y1 = c1[j], y2 = c2[j], y3 = c3[j];
            for (int p = 0; p < k; p++)
            {
                float bv = b[(long)p * n + j];
                long o = (long)p * aCol;
                y0 = MathF.FusedMultiplyAdd(a0[o], bv, y0); y1 = MathF.FusedMultiplyAdd(a1[o], bv, y1);
                y2 = MathF.FusedMultiplyAdd(a2[o], bv, y2); y3 = MathF.FusedMultiplyAdd(a3[o], bv, y3);
            }
            c0[j] = y0; c1[j] = y1; c2[j] = y2; c3[j] = y3;
        }
    }

    static void Row1(float* a, int aCol, float* b, float* c, int k, int n)
    {
        int j = 0;
        for (; j + 8 <= n; j += 8)
        {
            var x = Vector256.Load(c + j);
            for (int p = 0; p < k; p++) x = Vector256.FusedMultiplyAdd(Vector256.Create(a[(long)p * aCol]), Vector256.Load(b + (long)p * n + j), x);
            x.Store(c + j);
        }
        for (; j < n; j++)
        {
            float y = c[j];
            for (int p = 0; p < k; p++) y = MathF.FusedMultiplyAdd(a[(long)p * aCol], b[(long)p * n + j], y);
            c[j] = y;
        }
    }

    /// <summary>Scalar reference of <see cref="Multiply"/>, for the tests.</summary>
    public static void Reference(ReadOnlySpan<float> a, int aRow, int aCol, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = accumulate ? c[i * n + j] : 0;
                for (int p = 0; p < k; p++) s += (double)a[i * aRow + p * aCol] * b[p * n + j];
                c[i * n + j] = (float)s;
            }
    }

    /// <summary>dst[cols, rows] = srcᵀ for src [rows, cols].</summary>
    public static void Transpose(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
    }
}
