using System.Numerics.Tensors;

namespace TokenSieve.Numerics;

/// <summary>Matrix products with float32 accumulation.</summary>
public static unsafe class Gemm
{
    /// <summary>y[M,N] = x[M,K]·Wᵀ + bias, W stored [N,K] in its own dtype (a PyTorch Linear).
    /// <paramref name="bias"/> may be empty. <paramref name="y"/> must not alias <paramref name="x"/>.</summary>
    public static void Linear(ComputeContext ctx, ReadOnlySpan<float> x, int m, WeightMatrix w, ReadOnlySpan<float> bias, Span<float> y)
    {
        int k = w.Cols, n = w.Rows;
        if (x.Length < (long)m * k) throw new ArgumentException($"Linear '{w.Name}': input has {x.Length} values, need {m}x{k}", nameof(x));
        if (y.Length < (long)m * n) throw new ArgumentException($"Linear '{w.Name}': output has {y.Length} values, need {m}x{n}", nameof(y));
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"Linear '{w.Name}': bias has {bias.Length} values, need {n}", nameof(bias));
        fixed (float* px = x, py = y, pb = bias)
        {
            float* xp = px, yp = py, bp = bias.IsEmpty ? null : pb;
            const int block = 64;
            int blocks = (n + block - 1) / block;
            ctx.For(blocks, b =>
            {
                Span<float> row = new float[k];
                int n0 = b * block, n1 = Math.Min(n, n0 + block);
                for (int j = n0; j < n1; j++)
                {
                    w.ReadRow(j, row);
                    float bj = bp == null ? 0f : bp[j];
                    for (int i = 0; i < m; i++)
                        yp[(long)i * n + j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(xp + (long)i * k, k), row) + bj;
                }
            });
        }
    }

    /// <summary>c[M,N] = a[M,K]·b[N,K]ᵀ for float32 activations (similarities, attention rows).</summary>
    public static void MatMulTransposed(ComputeContext ctx, ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c)
    {
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
            throw new ArgumentException($"MatMulTransposed: spans too short for [{m},{k}]x[{n},{k}]^T");
        fixed (float* pa = a, pb = b, pc = c)
        {
            float* ap = pa, bp = pb, cp = pc;
            ctx.For(m, i =>
            {
                var ai = new ReadOnlySpan<float>(ap + (long)i * k, k);
                for (int j = 0; j < n; j++)
                    cp[(long)i * n + j] = TensorPrimitives.Dot(ai, new ReadOnlySpan<float>(bp + (long)j * k, k));
            });
        }
    }
}
