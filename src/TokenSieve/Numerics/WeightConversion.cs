using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace TokenSieve.Numerics;

/// <summary>Vectorised widening of stored weight elements to float32. .NET exposes no vcvtph2ps,
/// so F16 uses the exact integer/scale trick: the 15 exponent+mantissa bits shifted into float
/// position and multiplied by 2¹¹² give every normal and subnormal half exactly; Inf/NaN get the
/// float exponent forced to all ones. BF16 is the upper half of a float32.</summary>
internal static unsafe class WeightConversion
{
    /// <summary>dst[i] = (float)src[i] for <paramref name="count"/> elements of <paramref name="type"/> at <paramref name="src"/>.</summary>
    public static void ToSingle(void* src, DType type, float* dst, int count)
    {
        switch (type)
        {
            case DType.F32:
                Buffer.MemoryCopy(src, dst, (long)count * 4, (long)count * 4);
                break;
            case DType.F16:
                HalfToSingle((ushort*)src, dst, count);
                break;
            case DType.BF16:
                BFloat16ToSingle((ushort*)src, dst, count);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    /// <summary>Scalar reference: what every vector path must reproduce bit for bit.</summary>
    public static float ToSingleReference(void* src, DType type, long index) => type switch
    {
        DType.F32 => ((float*)src)[index],
        DType.F16 => (float)((Half*)src)[index],
        DType.BF16 => BFloat16.ToSingle(((ushort*)src)[index]),
        _ => QuantFormats.DequantizeElementReference(src, type, index),
    };

    static void HalfToSingle(ushort* src, float* dst, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= count - 16; i += 16)
                HalfToSingle512(Vector256.Load(src + i)).Store(dst + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= count - 8; i += 8)
                HalfToSingle256(Vector128.Load(src + i)).Store(dst + i);
        }
        for (; i < count; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
    }

    static void BFloat16ToSingle(ushort* src, float* dst, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= count - 16; i += 16)
                BFloat16ToSingle512(Vector256.Load(src + i)).Store(dst + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= count - 8; i += 8)
                BFloat16ToSingle256(Vector128.Load(src + i)).Store(dst + i);
        }
        for (; i < count; i++) dst[i] = BFloat16.ToSingle(src[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle512(Vector256<ushort> h)
    {
        Vector512<uint> bits = Vector512.WidenLower(h.ToVector512Unsafe());
        Vector512<uint> em = bits & Vector512.Create(0x7FFFu);
        Vector512<uint> sign = (bits & Vector512.Create(0x8000u)) << 16;
        Vector512<float> magnitude = (em << 13).AsSingle() * Vector512.Create(0x77800000u).AsSingle();
        Vector512<uint> infNan = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u)) & Vector512.Create(0x7F800000u);
        return (magnitude.AsUInt32() | sign | infNan).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> HalfToSingle256(Vector128<ushort> h)
    {
        Vector256<uint> bits = Vector256.WidenLower(h.ToVector256Unsafe());
        Vector256<uint> em = bits & Vector256.Create(0x7FFFu);
        Vector256<uint> sign = (bits & Vector256.Create(0x8000u)) << 16;
        Vector256<float> magnitude = (em << 13).AsSingle() * Vector256.Create(0x77800000u).AsSingle();
        Vector256<uint> infNan = Vector256.GreaterThanOrEqual(em, Vector256.Create(0x7C00u)) & Vector256.Create(0x7F800000u);
        return (magnitude.AsUInt32() | sign | infNan).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> BFloat16ToSingle512(Vector256<ushort> b) =>
        (Vector512.WidenLower(b.ToVector512Unsafe()) << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> BFloat16ToSingle256(Vector128<ushort> b) =>
        (Vector256.WidenLower(b.ToVector256Unsafe()) << 16).AsSingle();
}
