namespace TokenSieve.Numerics;

/// <summary>Row-wise normalisations over [rows, dim] float32 buffers, as PyTorch computes them in fp32.</summary>
public static class Norms
{
    /// <summary>y = (x − mean)/sqrt(var + eps)·w + b per row (biased variance, as torch.nn.LayerNorm). y may alias x.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> y)
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

    /// <summary>y = x / sqrt(mean(x²) + eps) · w per row (LlamaRMSNorm). y may alias x.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, int rows, int dim, ReadOnlySpan<float> weight, float eps, Span<float> y)
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
