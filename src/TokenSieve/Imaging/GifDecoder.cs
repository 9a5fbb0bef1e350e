namespace TokenSieve.Imaging;

/// <summary>A managed GIF decoder for the first frame, as Pillow's <c>Image.open(f).convert('RGB')</c>
/// sees it: the canvas is the logical screen (grown to hold the first frame if that frame reaches
/// past it, as Pillow does), filled with the frame's transparent index when its graphic control
/// extension has one and with index 0 otherwise; the frame's indexes are looked up in its local
/// colour table, else the global one, else used as grey levels; indexes past the table are grey
/// (Pillow's palette starts as a grey ramp).
/// <para>Safety: the canvas size is checked against <see cref="ImageLimits"/> before anything is
/// allocated; LZW decoding writes at most one index per canvas pixel and stops at the end of the
/// data, so every loop is bounded by the file or the canvas; a code that is not yet defined is an
/// error (Pillow: "broken data stream").</para></summary>
internal static class GifDecoder
{
    public static bool IsGif(ReadOnlySpan<byte> d) => d.Length >= 6 && d[..6] is var h && (h.SequenceEqual("GIF87a"u8) || h.SequenceEqual("GIF89a"u8));

    public static (long Width, long Height)? ReadSize(ReadOnlySpan<byte> d) =>
        IsGif(d) && d.Length >= 10 ? (d[6] | (d[7] << 8), d[8] | (d[9] << 8)) : null;

    public static RgbImage Decode(byte[] d, string? name)
    {
        ImageDecodeException Error(string reason) => new(name, reason);
        ImageDecodeException Truncated() => new(name, "the GIF file is truncated");
        if (!IsGif(d)) throw Error("not a GIF file");
        if (d.Length < 13) throw Truncated();
        int width = d[6] | (d[7] << 8), height = d[8] | (d[9] << 8);
        int flags = d[10];
        int pos = 13;
        byte[]? global = null;
        if ((flags & 0x80) != 0)
        {
            int size = 3 << ((flags & 7) + 1);
            if (pos + size > d.Length) throw Truncated();
            global = d.AsSpan(pos, size).ToArray();
            pos += size;
        }
        int transparency = -1;
        while (true)
        {
            if (pos >= d.Length) throw Truncated();
            int b = d[pos++];
            if (b == 0x3B) throw Error("the GIF has no image (trailer before the first frame)");
            if (b == 0x21)
            {
                if (pos >= d.Length) throw Truncated();
                int label = d[pos++];
                bool first = true;
                while (true)
                {
                    if (pos >= d.Length) throw Truncated();
                    int n = d[pos++];
                    if (n == 0) break;
                    if (pos + n > d.Length) throw Truncated();
                    // Graphic control extension: flags, delay (2), transparent index.
                    if (label == 0xF9 && first && n >= 4)
                        transparency = (d[pos] & 1) != 0 ? d[pos + 3] : -1;
                    first = false;
                    pos += n;
                }
                continue;
            }
            if (b != 0x2C) throw Error($"unexpected GIF block 0x{b:X2}");
            if (pos + 9 > d.Length) throw Truncated();
            int x0 = d[pos] | (d[pos + 1] << 8), y0 = d[pos + 2] | (d[pos + 3] << 8);
            int fw = d[pos + 4] | (d[pos + 5] << 8), fh = d[pos + 6] | (d[pos + 7] << 8);
            int fflags = d[pos + 8];
            pos += 9;
            byte[]? palette = global;
            if ((fflags & 0x80) != 0)
            {
                int size = 3 << ((fflags & 7) + 1);
                if (pos + size > d.Length) throw Truncated();
                palette = d.AsSpan(pos, size).ToArray();
                pos += size;
            }
            // Pillow grows the image to hold a first frame that reaches past the logical screen.
            long canvasW = Math.Max(width, (long)x0 + fw), canvasH = Math.Max(height, (long)y0 + fh);
            ImageLimits.Check(canvasW, canvasH, name);
            if (pos >= d.Length) throw Truncated();
            int minCodeSize = d[pos++];
            if (minCodeSize is < 1 or > 11) throw Error($"invalid LZW code size {minCodeSize}");
            var indexes = new byte[canvasW * canvasH];
            if (transparency >= 0) Array.Fill(indexes, (byte)transparency);
            bool interlaced = (fflags & 0x40) != 0;
            Lzw(d, pos, minCodeSize, indexes, (int)canvasW, x0, y0, fw, fh, interlaced, name);
            var image = new RgbImage((int)canvasW, (int)canvasH);
            var px = image.Pixels;
            int entries = palette is null ? 0 : palette.Length / 3;
            for (int i = 0; i < indexes.Length; i++)
            {
                int v = indexes[i];
                if (v < entries)
                {
                    px[3 * i] = palette![3 * v];
                    px[3 * i + 1] = palette[3 * v + 1];
                    px[3 * i + 2] = palette[3 * v + 2];
                }
                else px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = (byte)v;
            }
            return image;
        }
    }

    /// <summary>Decodes the frame's LZW sub-blocks into <paramref name="canvas"/>. Decoding stops when
    /// every frame pixel is written, at an end code, or at the end of the data (leaving the fill).</summary>
    static void Lzw(byte[] d, int pos, int minCodeSize, byte[] canvas, int canvasW, int x0, int y0, int fw, int fh, bool interlaced, string? name)
    {
        long total = (long)fw * fh;
        if (total == 0) return;
        const int MaxCodes = 4096;
        var prefix = new short[MaxCodes];
        var suffix = new byte[MaxCodes];
        var firstOf = new byte[MaxCodes];
        var stack = new byte[MaxCodes + 1];
        int clear = 1 << minCodeSize, end = clear + 1;
        int codeSize = minCodeSize + 1, next = clear + 2;
        for (int i = 0; i < clear; i++)
        {
            prefix[i] = -1;
            suffix[i] = (byte)i;
            firstOf[i] = (byte)i;
        }
        int prev = -1;
        long written = 0;
        int px = 0, py = 0, pass = 0;
        int[] passStart = [0, 4, 2, 1], passStep = [8, 8, 4, 2];
        int rowStep = interlaced ? 8 : 1;

        void Emit(byte value)
        {
            if (py < fh) canvas[(long)(y0 + py) * canvasW + x0 + px] = value;
            written++;
            if (++px < fw) return;
            px = 0;
            py += rowStep;
            while (interlaced && py >= fh && pass < 3)
            {
                pass++;
                py = passStart[pass];
                rowStep = passStep[pass];
            }
        }

        int blockLeft = 0;
        uint acc = 0;
        int bits = 0;
        while (written < total)
        {
            while (bits < codeSize)
            {
                if (blockLeft == 0)
                {
                    if (pos >= d.Length) return;
                    blockLeft = d[pos++];
                    if (blockLeft == 0) return;  // end of the image data
                }
                if (pos >= d.Length) return;
                acc |= (uint)d[pos++] << bits;
                bits += 8;
                blockLeft--;
            }
            int code = (int)(acc & ((1u << codeSize) - 1));
            acc >>= codeSize;
            bits -= codeSize;
            if (code == clear)
            {
                codeSize = minCodeSize + 1;
                next = clear + 2;
                prev = -1;
                continue;
            }
            if (code == end) return;
            int top = 0;
            if (prev < 0)
            {
                if (code > clear) throw new ImageDecodeException(name, "broken GIF data stream (undefined LZW code)");
                Emit((byte)code);
                prev = code;
                continue;
            }
            int c = code;
            byte first;
            if (code < next)
            {
                first = firstOf[code];
            }
            else if (code == next)
            {
                first = firstOf[prev];
                stack[top++] = first;
                c = prev;
            }
            else throw new ImageDecodeException(name, "broken GIF data stream (undefined LZW code)");
            while (c >= 0 && top < stack.Length)
            {
                stack[top++] = suffix[c];
                c = prefix[c];
            }
            while (top > 0 && written < total) Emit(stack[--top]);
            if (next < MaxCodes)
            {
                prefix[next] = (short)prev;
                suffix[next] = first;
                firstOf[next] = firstOf[prev];
                next++;
                if (next == 1 << codeSize && codeSize < 12) codeSize++;
            }
            prev = code;
        }
    }
}
