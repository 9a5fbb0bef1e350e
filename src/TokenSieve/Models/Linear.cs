using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>A PyTorch Linear: weight [out, in] in its stored dtype, optional float32 bias.</summary>
internal sealed class Linear
{
    public WeightMatrix Weight { get; }
    public float[]? Bias { get; }
    public int In => Weight.Cols;
    public int Out => Weight.Rows;
    /// <summary>Where each stored row's output goes: output column <c>OutputOrder[r]</c> is the product with stored row
    /// <c>r</c> (null: in order). llama.cpp's GGUF stores attn_q / attn_k rows interleaved for its RoPE; scattering the
    /// outputs undoes that without touching (or copying) the weights, which stay in their stored block type.</summary>
    public int[]? OutputOrder { get; init; }

    public Linear(WeightMatrix weight, float[]? bias)
    {
        if (bias is not null && bias.Length != weight.Rows)
            throw new CheckpointException(null, weight.Name, $"bias has {bias.Length} values for {weight.Rows} outputs");
        Weight = weight;
        Bias = bias;
    }

    /// <summary>Loads "{prefix}weight" (shape [outFeatures, inFeatures]) and, if <paramref name="withBias"/>, "{prefix}bias".</summary>
    public static Linear Load(ITensorSource source, string prefix, int outFeatures, int inFeatures, bool withBias)
    {
        var w = source.Get(prefix + "weight").ExpectShape(outFeatures, inFeatures).AsMatrix();
        float[]? b = withBias ? source.Get(prefix + "bias").ExpectShape(outFeatures).ToFloats() : null;
        return new Linear(w, b);
    }

    /// <summary>y[rows, Out] = x[rows, In]·Wᵀ + b.</summary>
    public void Forward(ComputeContext ctx, ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        Gemm.Linear(ctx, x, rows, Weight, Bias, y);
        if (OutputOrder is { } order) Scatter(y, rows, order);
    }

    static void Scatter(Span<float> y, int rows, int[] order)
    {
        int n = order.Length;
        var rented = System.Buffers.ArrayPool<float>.Shared.Rent(n);
        var row = rented.AsSpan(0, n);
        for (int i = 0; i < rows; i++)
        {
            var dst = y.Slice(i * n, n);
            dst.CopyTo(row);
            for (int r = 0; r < n; r++) dst[order[r]] = row[r];
        }
        System.Buffers.ArrayPool<float>.Shared.Return(rented);
    }
}

/// <summary>Weight and bias of a LayerNorm, or the weight of an RMSNorm, as float32.</summary>
internal sealed record NormWeights(float[] Weight, float[]? Bias, float Eps)
{
    public static NormWeights LoadLayerNorm(ITensorSource source, string prefix, int dim, float eps) =>
        new(source.Get(prefix + "weight").ExpectShape(dim).ToFloats(), source.Get(prefix + "bias").ExpectShape(dim).ToFloats(), eps);

    public static NormWeights LoadRmsNorm(ITensorSource source, string name, int dim, float eps) =>
        new(source.Get(name).ExpectShape(dim).ToFloats(), null, eps);

    public void LayerNorm(ReadOnlySpan<float> x, int rows, Span<float> y) => Norms.LayerNorm(x, rows, Weight.Length, Weight, Bias, Eps, y);

    public void RmsNorm(ReadOnlySpan<float> x, int rows, Span<float> y) => Norms.RmsNorm(x, rows, Weight.Length, Weight, Eps, y);
}
