namespace TokenSieve.Numerics;

/// <summary>Element types a weight may be stored in. Activations are always float32. The block types
/// are GGML's (see <see cref="QuantFormats"/>): a row is a whole number of blocks, each holding its own
/// scale(s) next to its quantised values.</summary>
public enum DType
{
    F32,
    F16,
    BF16,
    /// <summary>GGML Q8_0: blocks of 32 weights, an F16 scale and 32 int8 values (34 bytes).</summary>
    Q8_0,
    /// <summary>GGML Q4_0: blocks of 32 weights, an F16 scale and 16 bytes of 4-bit values offset by 8 (18 bytes).</summary>
    Q4_0,
    /// <summary>GGML Q4_K: super-blocks of 256 weights, 8 sub-blocks with 6-bit scales and mins (144 bytes).</summary>
    Q4_K,
    /// <summary>GGML Q6_K: super-blocks of 256 weights, 16 sub-blocks with int8 scales (210 bytes).</summary>
    Q6_K,
}

internal static class DTypes
{
    /// <summary>Bytes of one element; only for the element types (F32, F16, BF16), block types have none.</summary>
    public static int SizeOf(DType t) => t switch
    {
        DType.F32 => 4,
        DType.F16 => 2,
        DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(t), $"{t} is a block type; use RowBytes"),
    };

    /// <summary>True for the GGML block types.</summary>
    public static bool IsQuantized(DType t) => t is DType.Q8_0 or DType.Q4_0 or DType.Q4_K or DType.Q6_K;

    /// <summary>Elements per block (1 for the element types).</summary>
    public static int BlockElements(DType t) => t switch
    {
        DType.Q8_0 or DType.Q4_0 => 32,
        DType.Q4_K or DType.Q6_K => 256,
        _ => 1,
    };

    /// <summary>Bytes per block (the element size for the element types).</summary>
    public static int BlockBytes(DType t) => t switch
    {
        DType.Q8_0 => QuantFormats.Q8_0BlockBytes,
        DType.Q4_0 => QuantFormats.Q4_0BlockBytes,
        DType.Q4_K => QuantFormats.Q4_KBlockBytes,
        DType.Q6_K => QuantFormats.Q6_KBlockBytes,
        _ => SizeOf(t),
    };

    /// <summary>Bytes of <paramref name="count"/> consecutive elements, which for a block type must be a
    /// whole number of blocks.</summary>
    public static long ByteCount(DType t, long count)
    {
        int be = BlockElements(t);
        if (count % be != 0) throw new ArgumentException($"{t} stores whole blocks of {be} elements; {count} is not a multiple");
        return count / be * BlockBytes(t);
    }

    /// <summary>The lower-case name used on the command line and in reports ("f16", "q4_0").</summary>
    public static string Name(DType t) => t.ToString().ToLowerInvariant();

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
