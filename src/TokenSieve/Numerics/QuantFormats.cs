using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenSieve.Numerics;

/// <summary>GGML's block formats, as the GGUF specification and ggml-common.h define them, with a scalar
/// reference for each (written from the layout, not from GGML's code) and the vectorised dequantisation the
/// GEMM uses to widen a weight tile.</summary>
/// <remarks>
/// Byte layouts (little-endian; "f16" is an IEEE half):
/// <list type="bullet">
/// <item>Q8_0, 34 bytes per 32 weights: f16 d, int8 q[32]; w[j] = d·q[j].</item>
/// <item>Q4_0, 18 bytes per 32 weights: f16 d, u8 qs[16]; w[j] = d·((qs[j] &amp; 15) − 8) and
/// w[j+16] = d·((qs[j] &gt;&gt; 4) − 8) for j &lt; 16 — the low nibbles hold the first half of the block.</item>
/// <item>Q4_K, 144 bytes per 256 weights: f16 d, f16 dmin, u8 scales[12], u8 qs[128]. Eight sub-blocks of 32 with
/// 6-bit scale sc and min m each (packed, see <see cref="ScaleMinK4"/>); w = d·sc·q − dmin·m with q the 4-bit value.
/// Sub-blocks 2c and 2c+1 share qs[32c..32c+32): 2c in the low nibbles, 2c+1 in the high ones.</item>
/// <item>Q6_K, 210 bytes per 256 weights: u8 ql[128], u8 qh[64], int8 scales[16], f16 d. Each 128-weight half h
/// uses ql[64h..], qh[32h..]: for l &lt; 32, weights l, l+32, l+64, l+96 of the half take the low nibble of ql[l], the
/// low nibble of ql[l+32], the high nibble of ql[l], the high nibble of ql[l+32] as bits 0–3 and bits 0–1, 2–3, 4–5,
/// 6–7 of qh[l] as bits 4–5; q − 32 times d·scales[e/16] (e the weight's index in the super-block).</item>
/// </list>
/// The quantisers for Q8_0 and Q4_0 round as GGML's reference quantiser does (Q8_0: d = amax/127, round half away
/// from zero; Q4_0: d = −(signed value of largest magnitude)/8, q = min(15, trunc(x/d + 8.5))), so files written here
/// hold the bytes llama.cpp's quantiser would write. The K-quant quantisers are simple min/max fits: any bytes in
/// these layouts are valid, and they exist to build test and benchmark files, not to match GGML's search.
/// </remarks>
internal static unsafe class QuantFormats
{
    public const int Q8_0BlockBytes = 34;
    public const int Q4_0BlockBytes = 18;
    public const int Q4_KBlockBytes = 144;
    public const int Q6_KBlockBytes = 210;

    /// <summary>An IEEE half to float, exact for every finite value (the integer/scale trick of
    /// <see cref="WeightConversion"/>; .NET's own conversion is a call).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort h)
    {
        uint em = h & 0x7FFFu;
        if (em >= 0x7C00u) return (float)BitConverter.UInt16BitsToHalf(h);
        float magnitude = BitConverter.UInt32BitsToSingle(em << 13) * 5.192296858534828e33f; // 2^112
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(magnitude) | ((uint)(h & 0x8000) << 16));
    }

    /// <summary>Round to nearest even, as GGML_FP32_TO_FP16.</summary>
    public static ushort SingleToHalf(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    // ------------------------------------------------------------------ scalar references

    /// <summary>Element <paramref name="index"/> of a row-major tensor stored in block type <paramref name="type"/> at
    /// <paramref name="src"/> (rows are whole blocks, so the flat element index addresses the flat block sequence).</summary>
    public static float DequantizeElementReference(void* src, DType type, long index)
    {
        int be = DTypes.BlockElements(type);
        byte* block = (byte*)src + index / be * DTypes.BlockBytes(type);
        int e = (int)(index % be);
        switch (type)
        {
            case DType.Q8_0:
                return HalfToSingle(*(ushort*)block) * ((sbyte*)(block + 2))[e];
            case DType.Q4_0:
            {
                byte b = block[2 + (e & 15)];
                int q = e < 16 ? b & 15 : b >> 4;
                return HalfToSingle(*(ushort*)block) * (q - 8);
            }
            case DType.Q4_K:
            {
                float d = HalfToSingle(*(ushort*)block), dmin = HalfToSingle(*(ushort*)(block + 2));
                int sub = e / 32;
                var (sc, m) = ScaleMinK4(sub, block + 4);
                byte b = block[16 + (sub / 2) * 32 + e % 32];
                int q = sub % 2 == 0 ? b & 15 : b >> 4;
                return d * sc * q - dmin * m;
            }
            case DType.Q6_K:
            {
                int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
                byte* ql = block + 64 * half, qh = block + 128 + 32 * half;
                int low = quarter switch
                {
                    0 => ql[l] & 15,
                    1 => ql[l + 32] & 15,
                    2 => ql[l] >> 4,
                    _ => ql[l + 32] >> 4,
                };
                int high = (qh[l] >> (2 * quarter)) & 3;
                int q = (low | (high << 4)) - 32;
                sbyte scale = ((sbyte*)(block + 192))[e / 16];
                return HalfToSingle(*(ushort*)(block + 208)) * scale * q;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type), $"{type} is not a block type");
        }
    }

    /// <summary>The integer values of one Q8_0 or Q4_0 block (Q4_0's with the −8 offset applied) and its scale:
    /// the block's weights are scale·values[j].</summary>
    public static float BlockValues(byte* block, DType type, Span<int> values)
    {
        switch (type)
        {
            case DType.Q8_0:
                for (int j = 0; j < 32; j++) values[j] = ((sbyte*)(block + 2))[j];
                break;
            case DType.Q4_0:
                for (int j = 0; j < 16; j++)
                {
                    values[j] = (block[2 + j] & 15) - 8;
                    values[j + 16] = (block[2 + j] >> 4) - 8;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), $"{type} has no 32-value integer blocks");
        }
        return HalfToSingle(*(ushort*)block);
    }

    /// <summary>Scale and min of Q4_K sub-block <paramref name="j"/> (0..7) from the 12 packed bytes: sub-blocks 0–3
    /// keep 6 bits in bytes j (scale) and j+4 (min); 4–7 keep their low 4 bits in byte j+4's nibbles and their top 2
    /// bits in the top bits of bytes j−4 (scale) and j (min).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int Scale, int Min) ScaleMinK4(int j, byte* q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 15) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    /// <summary>Quantises <paramref name="src"/> (a whole number of blocks) into <paramref name="dst"/>.</summary>
    public static void QuantizeReference(ReadOnlySpan<float> src, DType type, Span<byte> dst)
    {
        int be = DTypes.BlockElements(type), bb = DTypes.BlockBytes(type);
        if (!DTypes.IsQuantized(type)) throw new ArgumentOutOfRangeException(nameof(type), $"{type} is not a block type");
        if (src.Length % be != 0) throw new ArgumentException($"{type} quantises whole blocks of {be}; got {src.Length} values", nameof(src));
        if (dst.Length < src.Length / be * bb) throw new ArgumentException("destination too short", nameof(dst));
        for (int b = 0; b < src.Length / be; b++)
        {
            var x = src.Slice(b * be, be);
            var y = dst.Slice(b * bb, bb);
            switch (type)
            {
                case DType.Q8_0: QuantizeQ8_0Block(x, y); break;
                case DType.Q4_0: QuantizeQ4_0Block(x, y); break;
                case DType.Q4_K: QuantizeQ4_KBlock(x, y); break;
                case DType.Q6_K: QuantizeQ6_KBlock(x, y); break;
            }
        }
    }

    static void WriteHalf(Span<byte> dst, float value) => System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(dst, SingleToHalf(value));

    static void QuantizeQ8_0Block(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0f;
        foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        WriteHalf(y, d);
        for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    static void QuantizeQ4_0Block(ReadOnlySpan<float> x, Span<byte> y)
    {
        // The value of largest magnitude keeps its sign: it maps to −8 exactly, the rest into −8..7.
        float amax = 0f, max = 0f;
        foreach (float v in x)
            if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        WriteHalf(y, d);
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
            y[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    /// <summary>Per 32-weight sub-block an affine fit from its min (≤ 0) and max; scales and mins quantised to 6 bits
    /// against the super-block's largest.</summary>
    static void QuantizeQ4_KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> scale = stackalloc float[8], min = stackalloc float[8];
        for (int s = 0; s < 8; s++)
        {
            float lo = 0f, hi = float.MinValue;
            for (int l = 0; l < 32; l++) { lo = MathF.Min(lo, x[32 * s + l]); hi = MathF.Max(hi, x[32 * s + l]); }
            scale[s] = (hi - lo) / 15f;
            min[s] = -lo;
        }
        float maxScale = 0f, maxMin = 0f;
        for (int s = 0; s < 8; s++) { maxScale = MathF.Max(maxScale, scale[s]); maxMin = MathF.Max(maxMin, min[s]); }
        float d = maxScale / 63f, dmin = maxMin / 63f;
        WriteHalf(y, d);
        WriteHalf(y[2..], dmin);
        float dq = HalfToSingle(SingleToHalf(d)), dminq = HalfToSingle(SingleToHalf(dmin));
        Span<int> sc = stackalloc int[8], m = stackalloc int[8];
        for (int s = 0; s < 8; s++)
        {
            sc[s] = dq > 0 ? Math.Clamp((int)MathF.Round(scale[s] / dq), 0, 63) : 0;
            m[s] = dminq > 0 ? Math.Clamp((int)MathF.Round(min[s] / dminq), 0, 63) : 0;
        }
        var packed = y.Slice(4, 12);
        for (int j = 0; j < 4; j++)
        {
            packed[j] = (byte)(sc[j] | ((sc[j + 4] >> 4) << 6));
            packed[j + 4] = (byte)(m[j] | ((m[j + 4] >> 4) << 6));
            packed[j + 8] = (byte)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
        }
        var qs = y.Slice(16, 128);
        for (int s = 0; s < 8; s++)
        {
            float step = dq * sc[s], offset = dminq * m[s];
            for (int l = 0; l < 32; l++)
            {
                int q = step > 0 ? Math.Clamp((int)MathF.Round((x[32 * s + l] + offset) / step), 0, 15) : 0;
                int at = (s / 2) * 32 + l;
                qs[at] = (byte)(s % 2 == 0 ? (qs[at] & 0xF0) | q : (qs[at] & 0x0F) | (q << 4));
            }
        }
    }

    /// <summary>Per 16-weight sub-block a symmetric scale (largest magnitude → ±31), quantised to int8 against the
    /// super-block's largest.</summary>
    static void QuantizeQ6_KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> scale = stackalloc float[16];
        float maxScale = 0f;
        for (int s = 0; s < 16; s++)
        {
            float amax = 0f;
            for (int l = 0; l < 16; l++) amax = MathF.Max(amax, MathF.Abs(x[16 * s + l]));
            scale[s] = amax / 31f;
            maxScale = MathF.Max(maxScale, scale[s]);
        }
        float d = maxScale / 127f;
        WriteHalf(y[208..], d);
        float dq = HalfToSingle(SingleToHalf(d));
        Span<int> q = stackalloc int[256];
        for (int s = 0; s < 16; s++)
        {
            int sc = dq > 0 ? Math.Clamp((int)MathF.Round(scale[s] / dq), -127, 127) : 0;
            y[192 + s] = (byte)(sbyte)sc;
            float step = dq * sc;
            for (int l = 0; l < 16; l++)
                q[16 * s + l] = (step != 0 ? Math.Clamp((int)MathF.Round(x[16 * s + l] / step), -32, 31) : 0) + 32;
        }
        for (int half = 0; half < 2; half++)
        {
            var ql = y.Slice(64 * half, 64);
            var qh = y.Slice(128 + 32 * half, 32);
            for (int l = 0; l < 32; l++)
            {
                int q1 = q[128 * half + l], q2 = q[128 * half + l + 32], q3 = q[128 * half + l + 64], q4 = q[128 * half + l + 96];
                ql[l] = (byte)((q1 & 15) | ((q3 & 15) << 4));
                ql[l + 32] = (byte)((q2 & 15) | ((q4 & 15) << 4));
                qh[l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    // ------------------------------------------------------------------ fast dequantisation

    /// <summary>dst[0..count) = elements [start, start+count) of one row stored at <paramref name="row"/>.
    /// <paramref name="start"/> and <paramref name="count"/> are multiples of 32 (Q8_0, Q4_0) or 128 (Q4_K, Q6_K),
    /// which every K block of the GEMM is.</summary>
    public static void DequantizeRow(byte* row, DType type, int start, int count, float* dst)
    {
        switch (type)
        {
            case DType.Q8_0:
                for (int b = start / 32, e = 0; e < count; b++, e += 32) DequantizeQ8_0(row + b * Q8_0BlockBytes, dst + e);
                break;
            case DType.Q4_0:
                for (int b = start / 32, e = 0; e < count; b++, e += 32) DequantizeQ4_0(row + b * Q4_0BlockBytes, dst + e);
                break;
            case DType.Q4_K:
                for (int h = start / 128, e = 0; e < count; h++, e += 128) DequantizeQ4_KHalf(row + h / 2 * Q4_KBlockBytes, h % 2, dst + e);
                break;
            case DType.Q6_K:
                for (int h = start / 128, e = 0; e < count; h++, e += 128) DequantizeQ6_KHalf(row + h / 2 * Q6_KBlockBytes, h % 2, dst + e);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), $"{type} is not a block type");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DequantizeQ8_0(byte* block, float* dst)
    {
        float d = HalfToSingle(*(ushort*)block);
        sbyte* q = (sbyte*)(block + 2);
        if (Avx512F.IsSupported)
        {
            var vd = Vector512.Create(d);
            (Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load(q))) * vd).Store(dst);
            (Vector512.ConvertToSingle(Avx512F.ConvertToVector512Int32(Vector128.Load(q + 16))) * vd).Store(dst + 16);
            return;
        }
        for (int j = 0; j < 32; j++) dst[j] = d * q[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DequantizeQ4_0(byte* block, float* dst)
    {
        float d = HalfToSingle(*(ushort*)block);
        byte* qs = block + 2;
        if (Avx512F.IsSupported)
        {
            var vd = Vector512.Create(d);
            var eight = Vector512.Create(8);
            var b = Avx512F.ConvertToVector512Int32(Vector128.Load(qs));
            (Vector512.ConvertToSingle((b & Vector512.Create(15)) - eight) * vd).Store(dst);
            (Vector512.ConvertToSingle((b >>> 4) - eight) * vd).Store(dst + 16);
            return;
        }
        for (int j = 0; j < 16; j++)
        {
            dst[j] = d * ((qs[j] & 15) - 8);
            dst[j + 16] = d * ((qs[j] >> 4) - 8);
        }
    }

    static void DequantizeQ4_KHalf(byte* block, int half, float* dst)
    {
        float d = HalfToSingle(*(ushort*)block), dmin = HalfToSingle(*(ushort*)(block + 2));
        byte* q = block + 16 + 64 * half;
        for (int pair = 0; pair < 2; pair++, q += 32)
        {
            int sub = 4 * half + 2 * pair;
            var (sc0, m0) = ScaleMinK4(sub, block + 4);
            var (sc1, m1) = ScaleMinK4(sub + 1, block + 4);
            float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
            float* y = dst + 64 * pair;
            for (int l = 0; l < 32; l++)
            {
                y[l] = d0 * (q[l] & 15) - o0;
                y[l + 32] = d1 * (q[l] >> 4) - o1;
            }
        }
    }

    static void DequantizeQ6_KHalf(byte* block, int half, float* dst)
    {
        float d = HalfToSingle(*(ushort*)(block + 208));
        byte* ql = block + 64 * half, qh = block + 128 + 32 * half;
        sbyte* sc = (sbyte*)(block + 192) + 8 * half;
        for (int l = 0; l < 32; l++)
        {
            int s = l / 16;
            dst[l] = d * sc[s] * (((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
            dst[l + 32] = d * sc[s + 2] * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            dst[l + 64] = d * sc[s + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            dst[l + 96] = d * sc[s + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}
