using System.Runtime.Intrinsics;

namespace TokenSieve.Numerics;

/// <summary>Element-wise activations, in place, vectorised with <see cref="VectorMath"/>'s ≈1 ulp exp and erf.
/// Tails use the scalar form of the same algorithm, so an element's result does not depend on its position.
/// Each has a scalar <c>…Reference</c> (MathF.Exp / double erf) that the tests compare against.</summary>
internal static class Activations
{
    const float QuickGeluAlpha = 1.702f;
    const float InvSqrt2 = 0.70710678118654752f;

    /// <summary>CLIP's quick_gelu: x·σ(1.702x).</summary>
    public static unsafe void QuickGelu(Span<float> x)
    {
        fixed (float* p = x)
        {
            int i = 0, n = x.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var v = Vector512.Load(p + i);
                    (v / (Vector512<float>.One + VectorMath.Exp(v * Vector512.Create(-QuickGeluAlpha)))).Store(p + i);
                }
            else if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(p + i);
                    (v / (Vector256<float>.One + VectorMath.Exp(v * Vector256.Create(-QuickGeluAlpha)))).Store(p + i);
                }
            for (; i < n; i++) p[i] = p[i] / (1f + VectorMath.Exp(p[i] * -QuickGeluAlpha));
        }
    }

    /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)) (torch.nn.GELU(), the LLaVA projector's "gelu").</summary>
    public static unsafe void GeluErf(Span<float> x)
    {
        fixed (float* p = x)
        {
            int i = 0, n = x.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var v = Vector512.Load(p + i);
                    (v * Vector512.Create(0.5f) * (Vector512<float>.One + VectorMath.Erf(v * Vector512.Create(InvSqrt2)))).Store(p + i);
                }
            else if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(p + i);
                    (v * Vector256.Create(0.5f) * (Vector256<float>.One + VectorMath.Erf(v * Vector256.Create(InvSqrt2)))).Store(p + i);
                }
            for (; i < n; i++) p[i] = p[i] * 0.5f * (1f + VectorMath.Erf(p[i] * InvSqrt2));
        }
    }

    /// <summary>SiLU: x·σ(x).</summary>
    public static unsafe void Silu(Span<float> x)
    {
        fixed (float* p = x)
        {
            int i = 0, n = x.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var v = Vector512.Load(p + i);
                    (v / (Vector512<float>.One + VectorMath.Exp(-v))).Store(p + i);
                }
            else if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(p + i);
                    (v / (Vector256<float>.One + VectorMath.Exp(-v))).Store(p + i);
                }
            for (; i < n; i++) p[i] = p[i] / (1f + VectorMath.Exp(-p[i]));
        }
    }

    /// <summary>LLaMA's gated MLP middle: gate ← silu(gate)·up.</summary>
    public static unsafe void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException($"SwiGlu: up has {up.Length} values, gate {gate.Length}", nameof(up));
        fixed (float* p = gate, u = up)
        {
            int i = 0, n = gate.Length;
            if (Vector512.IsHardwareAccelerated)
                for (; i <= n - 16; i += 16)
                {
                    var v = Vector512.Load(p + i);
                    (v / (Vector512<float>.One + VectorMath.Exp(-v)) * Vector512.Load(u + i)).Store(p + i);
                }
            else if (Vector256.IsHardwareAccelerated)
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(p + i);
                    (v / (Vector256<float>.One + VectorMath.Exp(-v)) * Vector256.Load(u + i)).Store(p + i);
                }
            for (; i < n; i++) p[i] = p[i] / (1f + VectorMath.Exp(-p[i])) * u[i];
        }
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

    // ------------------------------------------------------------ scalar references

    internal static void QuickGeluReference(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-1.702f * x[i]));
    }

    internal static void GeluErfReference(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = (float)(0.5 * x[i] * (1.0 + Erf(x[i] * 0.70710678118654752)));
    }

    internal static void SiluReference(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++) x[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }

    internal static void SwiGluReference(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }
}
