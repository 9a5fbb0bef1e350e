using System.Runtime.Intrinsics;

namespace TokenSieve.Numerics;

/// <summary>Row-wise normalisations over [rows, dim] float32 buffers, as PyTorch computes them in fp32.</summary>
/// <remarks>Statistics accumulate in double (vector lanes, fixed order), so they are exact to well below
/// float32 resolution whatever the row length; the per-element affine step uses the same float operations,
/// in the same order and without FMA contraction, as the scalar references.</remarks>
internal static unsafe class Norms
{
    /// <summary>y = (x − mean)/sqrt(var + eps)·w + b per row (biased variance, as torch.nn.LayerNorm). y may alias x.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> y) =>
        LayerNorm(ComputeContext.SingleThread, x, rows, dim, weight, bias, eps, y);

    /// <summary>As <see cref="LayerNorm(ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, ReadOnlySpan{float}, float, Span{float})"/>, rows spread over the context's threads.</summary>
    public static void LayerNorm(ComputeContext ctx, ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> y)
    {
        Check("LayerNorm", x, rows, dim, weight, y);
        if (bias.Length < dim) throw new ArgumentException($"LayerNorm: bias has {bias.Length} values, need {dim}", nameof(bias));
        fixed (float* px = x, pw = weight, pb = bias, py = y)
        {
            float* xp = px, wp = pw, bp = pb, yp = py;
            ForRows(ctx, rows, dim, r => LayerNormRow(xp + (long)r * dim, dim, wp, bp, eps, yp + (long)r * dim));
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · w per row (LlamaRMSNorm). y may alias x.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, float eps, Span<float> y) =>
        RmsNorm(ComputeContext.SingleThread, x, rows, dim, weight, eps, y);

    /// <summary>As <see cref="RmsNorm(ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, float, Span{float})"/>, rows spread over the context's threads.</summary>
    public static void RmsNorm(ComputeContext ctx, ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        Check("RmsNorm", x, rows, dim, weight, y);
        fixed (float* px = x, pw = weight, py = y)
        {
            float* xp = px, wp = pw, yp = py;
            ForRows(ctx, rows, dim, r => RmsNormRow(xp + (long)r * dim, dim, wp, eps, yp + (long)r * dim));
        }
    }

    static void Check(string what, ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, Span<float> y)
    {
        if (rows < 0 || dim <= 0) throw new ArgumentException($"{what}: bad shape [{rows},{dim}]");
        if (x.Length < (long)rows * dim) throw new ArgumentException($"{what}: input has {x.Length} values, need {rows}x{dim}", nameof(x));
        if (y.Length < (long)rows * dim) throw new ArgumentException($"{what}: output has {y.Length} values, need {rows}x{dim}", nameof(y));
        if (weight.Length < dim) throw new ArgumentException($"{what}: weight has {weight.Length} values, need {dim}", nameof(weight));
    }

    /// <summary>Rows in chunks of ≥ 16K elements per task, so small calls stay on one thread.</summary>
    static void ForRows(ComputeContext ctx, int rows, int dim, Action<int> row)
    {
        int perTask = Math.Max(1, 16384 / dim);
        int tasks = (rows + perTask - 1) / perTask;
        ctx.For(tasks, t =>
        {
            int r1 = Math.Min(rows, (t + 1) * perTask);
            for (int r = t * perTask; r < r1; r++) row(r);
        });
    }

    static void LayerNormRow(float* x, int dim, float* w, float* b, float eps, float* y)
    {
        double mean = SumDouble(x, dim, 0.0, squareDeviation: false) / dim;
        double var = SumDouble(x, dim, mean, squareDeviation: true) / dim;
        float inv = (float)(1.0 / Math.Sqrt(var + eps));
        float m = (float)mean;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var mv = Vector512.Create(m);
            var iv = Vector512.Create(inv);
            for (; i <= dim - 16; i += 16)
                ((Vector512.Load(x + i) - mv) * iv * Vector512.Load(w + i) + Vector512.Load(b + i)).Store(y + i);
        }
        for (; i < dim; i++) y[i] = (x[i] - m) * inv * w[i] + b[i];
    }

    static void RmsNormRow(float* x, int dim, float* w, float eps, float* y)
    {
        double ss = SumDouble(x, dim, 0.0, squareDeviation: true);
        float inv = (float)(1.0 / Math.Sqrt(ss / dim + eps));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var iv = Vector512.Create(inv);
            for (; i <= dim - 16; i += 16)
                (Vector512.Load(w + i) * (Vector512.Load(x + i) * iv)).Store(y + i);
        }
        for (; i < dim; i++) y[i] = w[i] * (x[i] * inv);
    }

    /// <summary>Σ x (or Σ (x − center)² when <paramref name="squareDeviation"/>) in double.</summary>
    static double SumDouble(float* x, int n, double center, bool squareDeviation)
    {
        int i = 0;
        double total = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var c = Vector512.Create(center);
            Vector512<double> a0 = default, a1 = default;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.Load(x + i);
                var lo = Vector512.WidenLower(v);
                var hi = Vector512.WidenUpper(v);
                if (squareDeviation)
                {
                    lo -= c;
                    hi -= c;
                    a0 = Vector512.FusedMultiplyAdd(lo, lo, a0);
                    a1 = Vector512.FusedMultiplyAdd(hi, hi, a1);
                }
                else
                {
                    a0 += lo;
                    a1 += hi;
                }
            }
            total = Vector512.Sum(a0 + a1);
        }
        for (; i < n; i++)
        {
            double t = x[i] - center;
            total += squareDeviation ? t * t : x[i];
        }
        return total;
    }

    // ------------------------------------------------------------ scalar references

    internal static void LayerNormReference(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double mean = 0;
            for (int i = 0; i < dim; i++) mean += xr[i];
            mean /= dim;
            double var = 0;
            for (int i = 0; i < dim; i++) { double t = xr[i] - mean; var += t * t; }
            var /= dim;
            float inv = (float)(1.0 / Math.Sqrt(var + eps));
            float m = (float)mean;
            for (int i = 0; i < dim; i++) yr[i] = (xr[i] - m) * inv * weight[i] + bias[i];
        }
    }

    internal static void RmsNormReference(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
            float inv = (float)(1.0 / Math.Sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) yr[i] = weight[i] * (xr[i] * inv);
        }
    }
}
