using TokenSieve.Checkpoints;
using TokenSieve.Numerics;

namespace TokenSieve.Models;

/// <summary>LLaVA's multi_modal_projector: linear_2(GELU_erf(linear_1(x))), applied per token.</summary>
public sealed class Projector
{
    internal Linear Linear1 { get; }
    internal Linear Linear2 { get; }
    public int InputSize => Linear1.In;
    public int OutputSize => Linear2.Out;

    float[] _hidden = [];

    internal Projector(ITensorSource source, int visionHidden, int textHidden, bool bias)
        : this(source, TensorNames.ProjectorLinear1, TensorNames.ProjectorLinear2, visionHidden, textHidden, textHidden, bias) { }

    /// <summary>Linear(input → hidden), GELU, Linear(hidden → output) under the given name prefixes
    /// (Qwen2-VL's PatchMerger MLP: visual.merger.mlp.0 / mlp.2).</summary>
    internal Projector(ITensorSource source, string linear1, string linear2, int inputSize, int hiddenSize, int outputSize, bool bias)
    {
        Linear1 = Linear.Load(source, linear1, hiddenSize, inputSize, bias);
        Linear2 = Linear.Load(source, linear2, outputSize, hiddenSize, bias);
    }

    /// <summary>output[rows, OutputSize] from features[rows, InputSize]. <paramref name="linear1"/> and
    /// <paramref name="gelu"/> receive the intermediate values when given (parity dumps).</summary>
    public void Forward(ComputeContext ctx, ReadOnlySpan<float> features, int rows, Span<float> output, float[]? linear1 = null, float[]? gelu = null)
    {
        if (features.Length < rows * InputSize) throw new InvalidInputException($"projector input has {features.Length} values, need {rows}x{InputSize}");
        int n = rows * Linear1.Out;
        if (_hidden.Length < n) _hidden = new float[n];
        var h = _hidden.AsSpan(0, n);
        Linear1.Forward(ctx, features, rows, h);
        if (linear1 is not null) h.CopyTo(linear1);
        Activations.GeluErf(h);
        if (gelu is not null) h.CopyTo(gelu);
        Linear2.Forward(ctx, h, rows, output);
    }

    public float[] Forward(ComputeContext ctx, ReadOnlySpan<float> features, int rows)
    {
        var result = new float[rows * OutputSize];
        Forward(ctx, features, rows, result);
        return result;
    }
}
