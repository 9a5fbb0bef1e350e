namespace TokenSieve.Numerics;

/// <summary>Element types a weight may be stored in. Activations are always float32.</summary>
public enum DType
{
    F32,
    F16,
    BF16,
}

internal static class DTypes
{
    public static int SizeOf(DType t) => t switch
    {
        DType.F32 => 4,
        DType.F16 => 2,
        DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The safetensors spelling ("F32", "F16", "BF16"); null for types we do not run.</summary>
    public static DType? FromSafetensors(string s) => s switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        _ => null,
    };

    public static string ToSafetensors(DType t) => t switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}

/// <summary>bfloat16 is the upper half of a float32; .NET has no type for it, so it travels as
/// <see cref="ushort"/>.</summary>
internal static class BFloat16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round-to-nearest-even, as torch's <c>.to(torch.bfloat16)</c>; NaN stays NaN.</summary>
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static void ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination too short", nameof(dst));
        for (int i = 0; i < src.Length; i++) dst[i] = ToSingle(src[i]);
    }
}
