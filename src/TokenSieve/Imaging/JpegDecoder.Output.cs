namespace TokenSieve.Imaging;

/// <summary>From decoded component planes to RGB: the colour space choice (jdapimin.c), upsampling
/// (jdsample.c) and the YCbCr / CMYK conversions.</summary>
internal sealed partial class JpegDecoder
{
    RgbImage Finish()
    {
        Span<int> block = stackalloc int[64];
        foreach (var c in _comps)
        {
            if (!c.Seen) throw Error($"component {c.Id} appears in no scan");
            if (c.Coefs is null) continue;
            c.Plane = new byte[c.Coefs.Length];
            for (int by = 0; by < c.BlocksPerColumn; by++)
                for (int bx = 0; bx < c.BlocksPerLine; bx++)
                {
                    var src = c.Coefs.AsSpan((by * c.BlocksPerLine + bx) * 64, 64);
                    for (int i = 0; i < 64; i++) block[i] = src[i];
                    Idct.Islow(block, c.Quant!, c.Plane, by * 8 * c.Stride + bx * 8, c.Stride);
                }
            c.Coefs = null;
        }
        var image = new RgbImage(_width, _height);
        var space = ColorSpace();
        int n = _comps.Length;
        var rows = new byte[n][];
        for (int i = 0; i < n; i++) rows[i] = new byte[_width + 16];
        byte[] pixels = image.Pixels;
        for (int y = 0; y < _height; y++)
        {
            for (int i = 0; i < n; i++) Upsample(_comps[i], y, rows[i]);
            int o = y * _width * 3;
            switch (space)
            {
                case Space.Grey:
                    for (int x = 0; x < _width; x++, o += 3) pixels[o] = pixels[o + 1] = pixels[o + 2] = rows[0][x];
                    break;
                case Space.Rgb:
                    for (int x = 0; x < _width; x++, o += 3)
                    {
                        pixels[o] = rows[0][x];
                        pixels[o + 1] = rows[1][x];
                        pixels[o + 2] = rows[2][x];
                    }
                    break;
                case Space.YCbCr:
                    YccToRgb(rows[0], rows[1], rows[2], pixels.AsSpan(o, _width * 3));
                    break;
                case Space.Cmyk:
                case Space.Ycck:
                    CmykToRgb(rows, space == Space.Ycck, pixels.AsSpan(o, _width * 3));
                    break;
            }
        }
        return image;
    }

    enum Space { Grey, YCbCr, Rgb, Cmyk, Ycck }

    /// <summary>jdapimin.c default_decompress_parms.</summary>
    Space ColorSpace()
    {
        switch (_comps.Length)
        {
            case 1:
                return Space.Grey;
            case 3:
                if (_jfif) return Space.YCbCr;
                if (_adobe) return _adobeTransform == 0 ? Space.Rgb : Space.YCbCr;
                if (_comps[0].Id == 82 && _comps[1].Id == 71 && _comps[2].Id == 66) return Space.Rgb;
                return Space.YCbCr;
            default:
                if (_adobe) return _adobeTransform == 0 ? Space.Cmyk : Space.Ycck;
                return Space.Cmyk;
        }
    }

    /// <summary>Row <paramref name="y"/> of the output grid for one component, as jdsample.c's
    /// upsampler for its ratio makes it (fancy for 2:1 ratios, box otherwise).</summary>
    void Upsample(Component c, int y, byte[] dst)
    {
        int hx = _hmax / c.H, vy = _vmax / c.V;
        byte[] p = c.Plane;
        int stride = c.Stride, w = c.DownW;
        if (hx == 1 && vy == 1)
        {
            Array.Copy(p, y * stride, dst, 0, _width);
            return;
        }
        if (hx == 2 && vy == 1 && w > 2)
        {
            // h2v1_fancy_upsample
            int row = y * stride;
            int o = 0;
            int v0 = p[row];
            dst[o++] = (byte)v0;
            dst[o++] = (byte)((v0 * 3 + p[row + 1] + 2) >> 2);
            for (int i = 1; i < w - 1; i++)
            {
                int v = p[row + i] * 3;
                dst[o++] = (byte)((v + p[row + i - 1] + 1) >> 2);
                dst[o++] = (byte)((v + p[row + i + 1] + 2) >> 2);
            }
            int last = p[row + w - 1];
            dst[o++] = (byte)((last * 3 + p[row + w - 2] + 1) >> 2);
            dst[o] = (byte)last;
            return;
        }
        if (hx == 1 && vy == 2)
        {
            // h1v2_fancy_upsample: 3/4 nearer row + 1/4 further row, bias 1 above, 2 below.
            int r = y >> 1;
            bool below = (y & 1) != 0;
            int r1 = Math.Clamp(below ? r + 1 : r - 1, 0, c.DownH - 1);
            int bias = below ? 2 : 1;
            int a = r * stride, b = r1 * stride;
            for (int i = 0; i < _width; i++) dst[i] = (byte)((p[a + i] * 3 + p[b + i] + bias) >> 2);
            return;
        }
        if (hx == 2 && vy == 2 && w > 2)
        {
            // h2v2_fancy_upsample
            int r = y >> 1;
            bool below = (y & 1) != 0;
            int r1 = Math.Clamp(below ? r + 1 : r - 1, 0, c.DownH - 1);
            int a = r * stride, b = r1 * stride;
            int o = 0;
            int thisSum = p[a] * 3 + p[b];
            int nextSum = p[a + 1] * 3 + p[b + 1];
            dst[o++] = (byte)((thisSum * 4 + 8) >> 4);
            dst[o++] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
            int lastSum = thisSum;
            thisSum = nextSum;
            for (int i = 2; i < w; i++)
            {
                nextSum = p[a + i] * 3 + p[b + i];
                dst[o++] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
                dst[o++] = (byte)((thisSum * 3 + nextSum + 7) >> 4);
                lastSum = thisSum;
                thisSum = nextSum;
            }
            dst[o++] = (byte)((thisSum * 3 + lastSum + 8) >> 4);
            dst[o] = (byte)((thisSum * 4 + 7) >> 4);
            return;
        }
        // int_upsample / h2v1_upsample / h2v2_upsample: replicate.
        int src = (y / vy) * stride;
        for (int x = 0; x < _width; x++) dst[x] = p[src + x / hx];
    }

    // jdcolor.c build_ycc_rgb_table (SCALEBITS 16).
    static readonly int[] CrR = new int[256], CbB = new int[256], CrG = new int[256], CbG = new int[256];

    static JpegDecoder()
    {
        const int scaleBits = 16, half = 1 << 15;
        static long Fix(double x) => (long)(x * (1L << scaleBits) + 0.5);
        for (int i = 0, x = -128; i < 256; i++, x++)
        {
            CrR[i] = (int)((Fix(1.40200) * x + half) >> scaleBits);
            CbB[i] = (int)((Fix(1.77200) * x + half) >> scaleBits);
            CrG[i] = (int)(-Fix(0.71414) * x);
            CbG[i] = (int)(-Fix(0.34414) * x + half);
        }
    }

    static byte Clamp(int v) => (byte)(v < 0 ? 0 : v > 255 ? 255 : v);

    void YccToRgb(byte[] yRow, byte[] cbRow, byte[] crRow, Span<byte> dst)
    {
        for (int x = 0, o = 0; x < _width; x++, o += 3)
        {
            int y = yRow[x], cb = cbRow[x], cr = crRow[x];
            dst[o] = Clamp(y + CrR[cr]);
            dst[o + 1] = Clamp(y + ((CbG[cb] + CrG[cr]) >> 16));
            dst[o + 2] = Clamp(y + CbB[cb]);
        }
    }

    /// <summary>libjpeg outputs CMYK (YCCK converted by ycck_cmyk_convert); Pillow reads it as
    /// Adobe-inverted "CMYK;I" and <c>convert('RGB')</c> applies cmyk2rgb.</summary>
    void CmykToRgb(byte[][] rows, bool ycck, Span<byte> dst)
    {
        for (int x = 0, o = 0; x < _width; x++, o += 3)
        {
            int c0, c1, c2;
            if (ycck)
            {
                int y = rows[0][x], cb = rows[1][x], cr = rows[2][x];
                c0 = Clamp(255 - (y + CrR[cr]));
                c1 = Clamp(255 - (y + ((CbG[cb] + CrG[cr]) >> 16)));
                c2 = Clamp(255 - (y + CbB[cb]));
            }
            else
            {
                c0 = rows[0][x];
                c1 = rows[1][x];
                c2 = rows[2][x];
            }
            // "CMYK;I": Pillow inverts every channel of Adobe CMYK.
            int cc = 255 - c0, mm = 255 - c1, yy = 255 - c2, k = 255 - rows[3][x];
            int nk = 255 - k;
            dst[o] = Clamp(nk - MulDiv255(cc, nk));
            dst[o + 1] = Clamp(nk - MulDiv255(mm, nk));
            dst[o + 2] = Clamp(nk - MulDiv255(yy, nk));
        }
    }

    static int MulDiv255(int a, int b)
    {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }
}
