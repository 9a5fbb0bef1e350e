namespace TokenSieve.Imaging;

/// <summary>libjpeg's jpeg_idct_islow (jidctint.c): 13-bit fixed-point constants, two passes with
/// 2 extra bits in between, dequantisation folded in, and the post-IDCT range-limit table (values
/// masked to 10 bits, then clamped to 0..255 around the 128 centre).</summary>
internal static class Idct
{
    const int ConstBits = 13, Pass1Bits = 2;
    const long F0298631336 = 2446, F0390180644 = 3196, F0541196100 = 4433, F0765366865 = 6270, F0899976223 = 7373,
        F1175875602 = 9633, F1501321110 = 12299, F1847759065 = 15137, F1961570560 = 16069, F2053119869 = 16819,
        F2562915447 = 20995, F3072711026 = 25172;

    static readonly byte[] RangeLimit = BuildRangeLimit();

    /// <summary>idct_range_limit[x &amp; 1023] of jdmaster.c's prepare_range_limit_table.</summary>
    static byte[] BuildRangeLimit()
    {
        var t = new byte[1024];
        for (int x = 0; x < 1024; x++)
        {
            int v = x < 512 ? x : x - 1024;  // the 10-bit value as a signed offset from 128
            t[x] = (byte)(v + 128 < 0 ? 0 : v + 128 > 255 ? 255 : v + 128);
        }
        return t;
    }

    static long Descale(long x, int n) => (x + (1L << (n - 1))) >> n;

    /// <summary>jidctint.c's odd part from inputs 7, 5, 3, 1 (dequantised): tmp0..tmp3 of the butterfly.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static (long, long, long, long) OddPart(long tmp0, long tmp1, long tmp2, long tmp3)
    {
        long z1 = tmp0 + tmp3, z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
        long z5 = (z3 + z4) * F1175875602;
        tmp0 *= F0298631336;
        tmp1 *= F2053119869;
        tmp2 *= F3072711026;
        tmp3 *= F1501321110;
        z1 *= -F0899976223;
        z2 *= -F2562915447;
        z3 = z3 * -F1961570560 + z5;
        z4 = z4 * -F0390180644 + z5;
        return (tmp0 + z1 + z3, tmp1 + z2 + z4, tmp2 + z2 + z3, tmp3 + z1 + z4);
    }

    public static void Islow(Span<int> coef, int[] quant, byte[] output, int offset, int stride)
    {
        Span<int> ws = stackalloc int[64];
        for (int col = 0; col < 8; col++)
        {
            if (coef[8 + col] == 0 && coef[16 + col] == 0 && coef[24 + col] == 0 && coef[32 + col] == 0
                && coef[40 + col] == 0 && coef[48 + col] == 0 && coef[56 + col] == 0)
            {
                int dc = (coef[col] * quant[col]) << Pass1Bits;
                for (int r = 0; r < 8; r++) ws[r * 8 + col] = dc;
                continue;
            }
            long z2 = coef[16 + col] * quant[16 + col], z3 = coef[48 + col] * quant[48 + col];
            long z1 = (z2 + z3) * F0541196100;
            long tmp2 = z1 + z3 * -F1847759065;
            long tmp3 = z1 + z2 * F0765366865;
            z2 = coef[col] * quant[col];
            z3 = coef[32 + col] * quant[32 + col];
            long tmp0 = (z2 + z3) << ConstBits;
            long tmp1 = (z2 - z3) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            (tmp0, tmp1, tmp2, tmp3) = OddPart(coef[56 + col] * quant[56 + col], coef[40 + col] * quant[40 + col],
                coef[24 + col] * quant[24 + col], coef[8 + col] * quant[8 + col]);
            const int s = ConstBits - Pass1Bits;
            ws[col] = (int)Descale(tmp10 + tmp3, s);
            ws[56 + col] = (int)Descale(tmp10 - tmp3, s);
            ws[8 + col] = (int)Descale(tmp11 + tmp2, s);
            ws[48 + col] = (int)Descale(tmp11 - tmp2, s);
            ws[16 + col] = (int)Descale(tmp12 + tmp1, s);
            ws[40 + col] = (int)Descale(tmp12 - tmp1, s);
            ws[24 + col] = (int)Descale(tmp13 + tmp0, s);
            ws[32 + col] = (int)Descale(tmp13 - tmp0, s);
        }
        var limit = RangeLimit;
        for (int row = 0; row < 8; row++)
        {
            var w = ws.Slice(row * 8, 8);
            var o = output.AsSpan(offset + row * stride, 8);
            if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0)
            {
                byte v = limit[(int)Descale(w[0], Pass1Bits + 3) & 1023];
                o.Fill(v);
                continue;
            }
            long z2 = w[2], z3 = w[6];
            long z1 = (z2 + z3) * F0541196100;
            long tmp2 = z1 + z3 * -F1847759065;
            long tmp3 = z1 + z2 * F0765366865;
            long tmp0 = ((long)w[0] + w[4]) << ConstBits;
            long tmp1 = ((long)w[0] - w[4]) << ConstBits;
            long tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
            (tmp0, tmp1, tmp2, tmp3) = OddPart(w[7], w[5], w[3], w[1]);
            const int s = ConstBits + Pass1Bits + 3;
            o[0] = limit[(int)Descale(tmp10 + tmp3, s) & 1023];
            o[7] = limit[(int)Descale(tmp10 - tmp3, s) & 1023];
            o[1] = limit[(int)Descale(tmp11 + tmp2, s) & 1023];
            o[6] = limit[(int)Descale(tmp11 - tmp2, s) & 1023];
            o[2] = limit[(int)Descale(tmp12 + tmp1, s) & 1023];
            o[5] = limit[(int)Descale(tmp12 - tmp1, s) & 1023];
            o[3] = limit[(int)Descale(tmp13 + tmp0, s) & 1023];
            o[4] = limit[(int)Descale(tmp13 - tmp0, s) & 1023];
        }
    }
}
