namespace TokenSieve.Imaging;

/// <summary>Pad-to-square, resize and centre crop computed together, with the same integer arithmetic
/// as <see cref="ImageProcessor.RunStages"/> (so the bytes are identical) but without materialising
/// the padded square or the full resized image. A 1×30000 image padded to a 30000² square would take
/// 2.7 GB; here memory is the source, the crop window and a bounded band of resize rows.
/// <para>Why it is exact: Pillow's resampling accumulates <c>Σ pixel · weight</c> in integers and
/// clips only at the end of each pass. Pixels of the padding all have the pad colour, so their part
/// of the sum is <c>pad · Σ weights</c> — the same integer, computed once per output column (or row)
/// instead of per tap. Rows of the square that are all padding give the same horizontal-pass row,
/// computed once. Only the output pixels inside the crop window are computed.</para></summary>
internal static class FusedPreprocess
{
    /// <summary>Bytes of horizontal-pass rows kept at once; output rows are processed in blocks whose
    /// input rows fit (a downscale by s needs about 4·s input rows per output row).</summary>
    const long BandBudgetBytes = 32L << 20;

    const int PrecisionBits = 22;

    /// <summary>The image placed at (<paramref name="ox"/>, <paramref name="oy"/>) on a
    /// <paramref name="canvasW"/>×<paramref name="canvasH"/> canvas of <paramref name="pad"/>, resized to
    /// <paramref name="outW"/>×<paramref name="outH"/> (a pass is skipped when its size is unchanged, as in
    /// Pillow), and only the window [<paramref name="wx0"/>, +<paramref name="ww"/>) × [<paramref name="wy0"/>, +<paramref name="wh"/>)
    /// of the result returned (the window must lie inside the resized image).</summary>
    public static RgbImage ResizeWindow(RgbImage image, int ox, int oy, int canvasW, int canvasH, (byte R, byte G, byte B) pad,
        int outW, int outH, ResampleFilter filter, int wx0, int wy0, int ww, int wh)
    {
        bool needH = outW != canvasW, needV = outH != canvasH;
        // Coefficients for the window's columns and rows only (indexed from 0).
        var hc = needH ? PilResample.Precompute(canvasW, outW, filter, wx0, ww) : default;
        var vc = needV ? PilResample.Precompute(canvasH, outH, filter, wy0, wh) : default;
        byte[] padBytes = [pad.R, pad.G, pad.B];
        var result = new RgbImage(ww, wh);

        // Per window column: which taps fall on image columns, and the weight of the others.
        int[] inFirst = new int[ww], inLast = new int[ww];
        long[] padWeight = new long[ww];
        if (needH)
        {
            for (int j = 0; j < ww; j++)
            {
                int x = j, f = hc.First[x], n = hc.Count[x];
                int a = Math.Max(f, ox), b = Math.Min(f + n, ox + image.Width);  // image columns among the taps
                inFirst[j] = a;
                inLast[j] = Math.Max(a, b);
                long s = 0;
                for (int t = 0; t < n; t++)
                {
                    int col = f + t;
                    if (col < a || col >= b) s += hc.Weights[x * hc.MaxTaps + t];
                }
                padWeight[j] = s;
            }
        }

        // The horizontal pass of a canvas row that is all padding.
        byte[] padRow = new byte[ww * 3];
        for (int j = 0; j < ww; j++)
            for (int c = 0; c < 3; c++)
            {
                if (!needH) { padRow[j * 3 + c] = padBytes[c]; continue; }
                int x = j;
                long acc = 1 << (PrecisionBits - 1);
                for (int t = 0; t < hc.Count[x]; t++) acc += padBytes[c] * (long)hc.Weights[x * hc.MaxTaps + t];
                padRow[j * 3 + c] = Clip8(acc);
            }

        // Horizontal pass of canvas row r (inside the image band) into dst (ww pixels).
        void HorizontalRow(int r, Span<byte> dst)
        {
            int iy = r - oy;
            ReadOnlySpan<byte> src = image.Pixels.AsSpan(iy * image.Width * 3, image.Width * 3);
            for (int j = 0; j < ww; j++)
            {
                int x = j;
                if (!needH)
                {
                    int ix = wx0 + j - ox;
                    if (ix >= 0 && ix < image.Width) src.Slice(ix * 3, 3).CopyTo(dst.Slice(j * 3, 3));
                    else padBytes.CopyTo(dst.Slice(j * 3, 3));
                    continue;
                }
                long r0 = (1 << (PrecisionBits - 1)) + pad.R * padWeight[j], g0 = (1 << (PrecisionBits - 1)) + pad.G * padWeight[j], b0 = (1 << (PrecisionBits - 1)) + pad.B * padWeight[j];
                int f = hc.First[x], baseW = x * hc.MaxTaps;
                for (int col = inFirst[j]; col < inLast[j]; col++)
                {
                    long w = hc.Weights[baseW + col - f];
                    int p = (col - ox) * 3;
                    r0 += src[p] * w;
                    g0 += src[p + 1] * w;
                    b0 += src[p + 2] * w;
                }
                dst[j * 3] = Clip8(r0);
                dst[j * 3 + 1] = Clip8(g0);
                dst[j * 3 + 2] = Clip8(b0);
            }
        }

        int bandTop = oy, bandBottom = oy + image.Height;  // canvas rows holding image pixels
        int stride = ww * 3;
        if (!needV)
        {
            for (int i = 0; i < wh; i++)
            {
                int r = wy0 + i;
                var dst = result.Pixels.AsSpan(i * stride, stride);
                if (r >= bandTop && r < bandBottom) HorizontalRow(r, dst);
                else padRow.CopyTo(dst);
            }
            return result;
        }

        int rowStart = 0;
        while (rowStart < wh)
        {
            // Grow the block of output rows while its input rows fit the budget (at least one row).
            int first = vc.First[rowStart];
            int rowEnd = rowStart + 1;
            int last = first + vc.Count[rowStart];
            while (rowEnd < wh)
            {
                int y = rowEnd;
                int nextLast = Math.Max(last, vc.First[y] + vc.Count[y]);
                if ((long)(nextLast - first) * stride > BandBudgetBytes) break;
                last = nextLast;
                rowEnd++;
            }
            int lo = Math.Max(first, bandTop), hi = Math.Min(last, bandBottom);
            byte[] band = new byte[Math.Max(0, hi - lo) * stride];
            for (int r = lo; r < hi; r++) HorizontalRow(r, band.AsSpan((r - lo) * stride, stride));
            for (int i = rowStart; i < rowEnd; i++)
            {
                int y = i, f = vc.First[y], n = vc.Count[y], baseW = y * vc.MaxTaps;
                long padW = 0;
                int a = Math.Max(f, lo), b = Math.Min(f + n, hi);
                for (int t = 0; t < n; t++)
                {
                    int row = f + t;
                    if (row < a || row >= b) padW += vc.Weights[baseW + t];
                }
                var dst = result.Pixels.AsSpan(i * stride, stride);
                for (int k = 0; k < stride; k++)
                {
                    long acc = (1 << (PrecisionBits - 1)) + padRow[k] * padW;
                    for (int row = a; row < b; row++) acc += band[(row - lo) * stride + k] * (long)vc.Weights[baseW + row - f];
                    dst[k] = Clip8(acc);
                }
            }
            rowStart = rowEnd;
        }
        return result;
    }

    static byte Clip8(long accumulator)
    {
        if (accumulator >= 1L << PrecisionBits << 8) return 255;
        if (accumulator <= 0) return 0;
        return (byte)(accumulator >> PrecisionBits);
    }
}
