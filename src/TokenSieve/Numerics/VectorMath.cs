using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TokenSieve.Numerics;

/// <summary>Vectorised transcendental functions accurate to about 1 ulp in float32, for kernels whose
/// scalar references use <see cref="MathF.Exp"/> and a double-precision erf.</summary>
internal static class VectorMath
{
    // Cephes expf: e^x = 2^n · e^r with n = round(x·log2 e), r = x − n·ln 2 (ln 2 split in two so
    // n·C1 is exact), e^r from a degree-6 minimax polynomial on |r| ≤ ln2/2. Max error ≈ 1 ulp.
    const float Log2E = 1.44269504088896341f;
    const float Ln2Hi = 0.693359375f;
    const float Ln2Lo = -2.12194440e-4f;
    const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
        P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;
    /// <summary>Below this e^x is under float's normal range; we return 0 (softmax weights that small vanish anyway).</summary>
    const float ExpLow = -87.33654f;
    /// <summary>Above this e^x overflows to +∞.</summary>
    const float ExpHigh = 88.72283f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var xc = Vector512.Min(Vector512.Max(x, Vector512.Create(ExpLow)), Vector512.Create(ExpHigh));
        var n = Vector512.Round(xc * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), xc);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        var z = r * r;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, z, r) + Vector512<float>.One;
        // 2^n for n in [−126, 128]: build the exponent in two halves so n = 128 (x near ExpHigh) stays finite until the end.
        var ni = Vector512.ConvertToInt32(n);
        var half = ni >> 1;
        var s1 = ((half + Vector512.Create(127)) << 23).AsSingle();
        var s2 = ((ni - half + Vector512.Create(127)) << 23).AsSingle();
        var result = p * s1 * s2;
        result = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(ExpLow)), Vector512<float>.Zero, result);
        result = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(ExpHigh)), Vector512.Create(float.PositiveInfinity), result);
        // NaN in, NaN out.
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), result, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(ExpLow)), Vector256.Create(ExpHigh));
        var n = Vector256.Round(xc * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), xc);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var z = r * r;
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, z, r) + Vector256<float>.One;
        var ni = Vector256.ConvertToInt32(n);
        var half = ni >> 1;
        var s1 = ((half + Vector256.Create(127)) << 23).AsSingle();
        var s2 = ((ni - half + Vector256.Create(127)) << 23).AsSingle();
        var result = p * s1 * s2;
        result = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(ExpLow)), Vector256<float>.Zero, result);
        result = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(ExpHigh)), Vector256.Create(float.PositiveInfinity), result);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), result, x);
    }

    /// <summary>Scalar version of the same algorithm (for tails, so a row's result does not depend on where the vector loop ends).</summary>
    public static float Exp(float x) => Exp(Vector128.CreateScalar(x).ToVector256()).ToScalar();

    // erf: two minimax fits (N. Juffa's erff, max error ≈ 1 ulp): |x| ≤ 0.921875: x + x·P(x²);
    // otherwise 1 − e^{Q(|x|)} with Q a polynomial in |x|, sign restored.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Erf(Vector512<float> a)
    {
        var t = Vector512.Abs(a);
        var s = a * a;
        // Large |x|.
        var r = Vector512.FusedMultiplyAdd(Vector512.Create(-1.72853470e-5f), t, Vector512.Create(3.83197126e-4f));
        var u = Vector512.FusedMultiplyAdd(Vector512.Create(-3.88396438e-3f), t, Vector512.Create(2.42546219e-2f));
        r = Vector512.FusedMultiplyAdd(r, s, u);
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-1.06777877e-1f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-6.34846687e-1f));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(-1.28717512e-1f));
        r = Vector512.FusedMultiplyAdd(r, t, -t);
        var large = Vector512<float>.One - Exp(r);
        large = Vector512.CopySign(large, a);
        // Small |x|.
        var q = Vector512.Create(-5.96761703e-4f);
        q = Vector512.FusedMultiplyAdd(q, s, Vector512.Create(4.99119423e-3f));
        q = Vector512.FusedMultiplyAdd(q, s, Vector512.Create(-2.67681349e-2f));
        q = Vector512.FusedMultiplyAdd(q, s, Vector512.Create(1.12819925e-1f));
        q = Vector512.FusedMultiplyAdd(q, s, Vector512.Create(-3.76125336e-1f));
        q = Vector512.FusedMultiplyAdd(q, s, Vector512.Create(1.28379166e-1f));
        var small = Vector512.FusedMultiplyAdd(q, a, a);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(t, Vector512.Create(0.921875f)), large, small);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> a)
    {
        var t = Vector256.Abs(a);
        var s = a * a;
        var r = Vector256.FusedMultiplyAdd(Vector256.Create(-1.72853470e-5f), t, Vector256.Create(3.83197126e-4f));
        var u = Vector256.FusedMultiplyAdd(Vector256.Create(-3.88396438e-3f), t, Vector256.Create(2.42546219e-2f));
        r = Vector256.FusedMultiplyAdd(r, s, u);
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-1.06777877e-1f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-6.34846687e-1f));
        r = Vector256.FusedMultiplyAdd(r, t, Vector256.Create(-1.28717512e-1f));
        r = Vector256.FusedMultiplyAdd(r, t, -t);
        var large = Vector256<float>.One - Exp(r);
        large = Vector256.CopySign(large, a);
        var q = Vector256.Create(-5.96761703e-4f);
        q = Vector256.FusedMultiplyAdd(q, s, Vector256.Create(4.99119423e-3f));
        q = Vector256.FusedMultiplyAdd(q, s, Vector256.Create(-2.67681349e-2f));
        q = Vector256.FusedMultiplyAdd(q, s, Vector256.Create(1.12819925e-1f));
        q = Vector256.FusedMultiplyAdd(q, s, Vector256.Create(-3.76125336e-1f));
        q = Vector256.FusedMultiplyAdd(q, s, Vector256.Create(1.28379166e-1f));
        var small = Vector256.FusedMultiplyAdd(q, a, a);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(t, Vector256.Create(0.921875f)), large, small);
    }

    public static float Erf(float x) => Erf(Vector128.CreateScalar(x).ToVector256()).ToScalar();

    /// <summary>Largest lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> v)
    {
        var a = Vector256.Max(v.GetLower(), v.GetUpper());
        var b = Vector128.Max(a.GetLower(), a.GetUpper());
        b = Vector128.Max(b, Vector128.Shuffle(b, Vector128.Create(2, 3, 0, 1)));
        b = Vector128.Max(b, Vector128.Shuffle(b, Vector128.Create(1, 0, 3, 2)));
        return b.ToScalar();
    }
}
