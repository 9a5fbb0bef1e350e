using System.Buffers.Binary;
using System.IO.Compression;

namespace TokenSieve.Imaging;

/// <summary>A managed PNG decoder producing what Pillow's <c>Image.open(f).convert('RGB')</c> gives:
/// grey replicated (1-bit as 0/255, 2- and 4-bit scaled by 85 and 17), 16-bit greyscale clipped to
/// 255 (Pillow's mode "I" → RGB), other 16-bit samples reduced to their high byte (Pillow's
/// "…;16B" raw modes), palettes looked up, alpha and tRNS dropped (not composited).
/// <para>Safety: the IHDR size is checked against <see cref="ImageLimits"/> before any allocation;
/// the zlib stream is inflated scanline by scanline into two row buffers and the RGB result, so a
/// compression bomb cannot produce more than the rows the header declares; CRCs of the chunks before
/// the image data are verified (as Pillow does); every loop is bounded by the file or the declared
/// size.</para></summary>
internal static class PngDecoder
{
    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static bool IsPng(ReadOnlySpan<byte> data) => data.Length >= 8 && data[..8].SequenceEqual(Signature);

    static readonly uint[] CrcTable = BuildCrcTable();

    static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = CrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>The IHDR size, without decoding (for the header check).</summary>
    public static (long Width, long Height)? ReadSize(ReadOnlySpan<byte> data)
    {
        if (!IsPng(data) || data.Length < 24 || !data.Slice(12, 4).SequenceEqual("IHDR"u8)) return null;
        return (BinaryPrimitives.ReadUInt32BigEndian(data[16..]), BinaryPrimitives.ReadUInt32BigEndian(data[20..]));
    }

    /// <summary>Concatenated IDAT payloads, read lazily so that nothing is copied up front.</summary>
    sealed class IdatStream(byte[] data, List<(int Offset, int Length)> chunks) : Stream
    {
        int _chunk, _offset;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (_chunk < chunks.Count && _offset >= chunks[_chunk].Length)
            {
                _chunk++;
                _offset = 0;
            }
            if (_chunk >= chunks.Count || buffer.Length == 0) return 0;
            var (start, length) = chunks[_chunk];
            int n = Math.Min(buffer.Length, length - _offset);
            data.AsSpan(start + _offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }
    }

    public static RgbImage Decode(byte[] data, string? name)
    {
        ImageDecodeException Error(string reason) => new(name, reason);
        if (!IsPng(data)) throw Error("not a PNG file");
        int pos = 8;
        int width = 0, height = 0, depth = 0, colourType = 0, interlace = 0;
        byte[]? palette = null;
        bool sawHeader = false, sawEnd = false, idatDone = false;
        var idat = new List<(int Offset, int Length)>();
        while (pos < data.Length && !sawEnd)
        {
            if (data.Length - pos < 12) throw Error("the PNG file is truncated (incomplete chunk)");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(pos));
            var type = data.AsSpan(pos + 4, 4);
            if (length > int.MaxValue || length > (uint)(data.Length - pos - 12))
                throw Error($"the PNG file is truncated (chunk '{ChunkName(type)}' claims {length} bytes)");
            int start = pos + 8, len = (int)length;
            bool isIdat = type.SequenceEqual("IDAT"u8);
            if (!sawHeader && !type.SequenceEqual("IHDR"u8)) throw Error("the PNG does not start with an IHDR chunk");
            // Pillow verifies the CRC of every chunk it reads before the image data.
            if (idat.Count == 0 && !isIdat)
            {
                uint stored = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(start + len));
                if (Crc(data.AsSpan(pos + 4, len + 4)) != stored) throw Error($"broken PNG file (bad CRC in chunk '{ChunkName(type)}')");
            }
            if (type.SequenceEqual("IHDR"u8))
            {
                if (sawHeader) throw Error("two IHDR chunks");
                if (len != 13) throw Error("bad IHDR chunk length");
                sawHeader = true;
                uint w = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(start));
                uint h = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(start + 4));
                ImageLimits.Check(w, h, name);
                width = (int)w;
                height = (int)h;
                depth = data[start + 8];
                colourType = data[start + 9];
                interlace = data[start + 12];
                bool valid = colourType switch
                {
                    0 => depth is 1 or 2 or 4 or 8 or 16,
                    2 or 4 or 6 => depth is 8 or 16,
                    3 => depth is 1 or 2 or 4 or 8,
                    _ => false,
                };
                if (!valid) throw Error($"unsupported PNG colour type {colourType} with bit depth {depth}");
                if (data[start + 10] != 0 || data[start + 11] != 0) throw Error("unknown PNG compression or filter method");
                if (interlace > 1) throw Error($"unknown PNG interlace method {interlace}");
            }
            else if (type.SequenceEqual("PLTE"u8))
            {
                if (len % 3 != 0 || len == 0 || len > 768) throw Error($"bad PLTE chunk length {len}");
                palette = data.AsSpan(start, len).ToArray();
            }
            else if (isIdat)
            {
                if (idatDone) throw Error("IDAT chunks are not consecutive");
                idat.Add((start, len));
            }
            else if (type.SequenceEqual("IEND"u8)) sawEnd = true;
            else if (idat.Count > 0) idatDone = true;
            else if ((type[0] & 0x20) == 0) throw Error($"unknown critical PNG chunk '{ChunkName(type)}'");
            pos = start + len + 4;
        }
        if (!sawHeader) throw Error("the PNG has no IHDR chunk");
        if (idat.Count == 0) throw Error("the PNG has no image data (IDAT)");
        if (colourType == 3 && palette is null) throw Error("a palette PNG without a PLTE chunk");

        var image = new RgbImage(width, height);
        int channels = colourType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        int bitsPerPixel = channels * depth;
        int bpp = Math.Max(1, bitsPerPixel / 8);  // bytes to the corresponding byte of the previous pixel
        try
        {
            using var z = new ZLibStream(new IdatStream(data, idat), CompressionMode.Decompress);
            long maxRow = ((long)width * bitsPerPixel + 7) / 8;
            var prev = new byte[maxRow + 1];
            var cur = new byte[maxRow + 1];
            if (interlace == 0)
            {
                for (int y = 0; y < height; y++)
                {
                    ReadRow(z, cur, (int)maxRow, prev, bpp, name);
                    Convert(cur.AsSpan(1), width, depth, colourType, palette, image.Pixels.AsSpan(y * width * 3, width * 3));
                    (prev, cur) = (cur, prev);
                }
            }
            else
            {
                ReadOnlySpan<int> x0 = [0, 4, 0, 2, 0, 1, 0], y0 = [0, 0, 4, 0, 2, 0, 1];
                ReadOnlySpan<int> dx = [8, 8, 4, 4, 2, 2, 1], dy = [8, 8, 8, 4, 4, 2, 2];
                var rowRgb = new byte[width * 3];
                for (int p = 0; p < 7; p++)
                {
                    int pw = (width - x0[p] + dx[p] - 1) / dx[p], ph = (height - y0[p] + dy[p] - 1) / dy[p];
                    if (pw <= 0 || ph <= 0) continue;
                    int rowBytes = (int)(((long)pw * bitsPerPixel + 7) / 8);
                    Array.Clear(prev);
                    for (int r = 0; r < ph; r++)
                    {
                        ReadRow(z, cur, rowBytes, prev, bpp, name);
                        Convert(cur.AsSpan(1), pw, depth, colourType, palette, rowRgb);
                        int y = y0[p] + r * dy[p];
                        for (int i = 0; i < pw; i++)
                        {
                            int o = (y * width + x0[p] + i * dx[p]) * 3;
                            image.Pixels[o] = rowRgb[i * 3];
                            image.Pixels[o + 1] = rowRgb[i * 3 + 1];
                            image.Pixels[o + 2] = rowRgb[i * 3 + 2];
                        }
                        (prev, cur) = (cur, prev);
                    }
                }
            }
        }
        catch (InvalidDataException e)
        {
            throw new ImageDecodeException(name, $"the PNG image data is corrupt ({e.Message})", e);
        }
        return image;
    }

    static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> c = stackalloc char[4];
        for (int i = 0; i < 4; i++) c[i] = type[i] is >= 0x20 and < 0x7F ? (char)type[i] : '?';
        return new string(c);
    }

    /// <summary>Reads one filtered scanline (filter byte + <paramref name="rowBytes"/>) into
    /// <paramref name="cur"/> and unfilters it against <paramref name="prev"/> (zeros for the first row).</summary>
    static void ReadRow(Stream z, byte[] cur, int rowBytes, byte[] prev, int bpp, string? name)
    {
        var row = cur.AsSpan(0, rowBytes + 1);
        int got = 0;
        while (got < row.Length)
        {
            int n = z.Read(row[got..]);
            if (n == 0) throw new ImageDecodeException(name, "the PNG image data ends early (truncated file)");
            got += n;
        }
        var line = cur.AsSpan(1, rowBytes);
        var up = prev.AsSpan(1, rowBytes);
        switch (cur[0])
        {
            case 0:
                break;
            case 1:
                for (int i = bpp; i < line.Length; i++) line[i] += line[i - bpp];
                break;
            case 2:
                for (int i = 0; i < line.Length; i++) line[i] += up[i];
                break;
            case 3:
                for (int i = 0; i < line.Length; i++) line[i] += (byte)(((i >= bpp ? line[i - bpp] : 0) + up[i]) >> 1);
                break;
            case 4:
                for (int i = 0; i < line.Length; i++)
                {
                    int a = i >= bpp ? line[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    line[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
            default:
                throw new ImageDecodeException(name, $"unknown PNG filter type {cur[0]}");
        }
    }

    /// <summary>One unfiltered row of <paramref name="count"/> pixels to RGB, as Pillow converts it.</summary>
    static void Convert(ReadOnlySpan<byte> s, int count, int depth, int colourType, byte[]? palette, Span<byte> dst)
    {
        switch (colourType)
        {
            case 0 when depth == 16:
                for (int i = 0; i < count; i++)
                {
                    int v = (s[2 * i] << 8) | s[2 * i + 1];
                    dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = (byte)Math.Min(v, 255);
                }
                break;
            case 0 when depth == 8:
                for (int i = 0; i < count; i++) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = s[i];
                break;
            case 0:
            {
                int scale = depth == 1 ? 255 : depth == 2 ? 85 : 17, mask = (1 << depth) - 1, perByte = 8 / depth;
                for (int i = 0; i < count; i++)
                {
                    int v = (s[i / perByte] >> (8 - depth - (i % perByte) * depth)) & mask;
                    dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = (byte)(v * scale);
                }
                break;
            }
            case 3:
            {
                int mask = (1 << depth) - 1, perByte = 8 / depth, entries = palette!.Length / 3;
                for (int i = 0; i < count; i++)
                {
                    int v = depth == 8 ? s[i] : (s[i / perByte] >> (8 - depth - (i % perByte) * depth)) & mask;
                    if (v < entries)
                    {
                        dst[3 * i] = palette[3 * v];
                        dst[3 * i + 1] = palette[3 * v + 1];
                        dst[3 * i + 2] = palette[3 * v + 2];
                    }
                    else dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = (byte)v;  // Pillow's palette starts as a grey ramp
                }
                break;
            }
            default:
            {
                int channels = colourType switch { 2 => 3, 4 => 2, _ => 4 }, step = depth / 8;
                for (int i = 0; i < count; i++)
                {
                    int o = i * channels * step;
                    if (colourType == 4)
                        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = s[o];
                    else
                    {
                        dst[3 * i] = s[o];
                        dst[3 * i + 1] = s[o + step];
                        dst[3 * i + 2] = s[o + 2 * step];
                    }
                }
                break;
            }
        }
    }
}
