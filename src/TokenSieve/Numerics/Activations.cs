namespace TokenSieve.Numerics;

/// <summary>Element-wise activations, in place.</summary>
public static class Activations
{
    /// <summary>CLIP's quick_gelu: x·σ(1.702x).</summary>
    public static void QuickGelu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-1.702f * x[i]));
    }

    /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)) (torch.nn.GELU(), the LLaVA projector's "gelu").</summary>
    public static void GeluErf(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(0.5 * x[i] * (1.0 + Erf(x[i] * 0.70710678118654752)));
    }

    /// <summary>SiLU: x·σ(x).</summary>
    public static void Silu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }

    /// <summary>LLaMA's gated MLP middle: gate ← silu(gate)·up.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>erf via the Numerical Recipes erfc Chebyshev fit (fractional error &lt; 1.2e-7,
    /// far below float32 activation noise).</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - r : r - 1.0;
    }
}
