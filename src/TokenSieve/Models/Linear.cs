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
    public void Forward(ComputeContext ctx, ReadOnlySpan<float> x, int rows, Span<float> y) =>
        Gemm.Linear(ctx, x, rows, Weight, Bias, y);
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
