using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace TokenSieve.Imaging;

/// <summary>Writes <see cref="RgbImage"/>s as PNG (8-bit truecolour, non-interlaced): one IHDR, one
/// zlib-compressed IDAT (System.IO.Compression's <see cref="ZLibStream"/>, every scanline with filter
/// type 0), IEND. Enough for lab scenes and overlays without a native imaging library.</summary>
public static class PngEncoder
{
    static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static byte[] Encode(RgbImage image, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var output = new MemoryStream();
        Write(image, output, level);
        return output.ToArray();
    }

    public static void Save(RgbImage image, string path, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var file = File.Create(path);
        Write(image, file, level);
    }

    public static void Write(RgbImage image, Stream output, CompressionLevel level = CompressionLevel.Optimal)
    {
        ArgumentNullException.ThrowIfNull(image);
        WriteRaw(output, image.Width, image.Height, colourType: 2, channels: 3, image.Pixels, level);
    }

    /// <summary>Any 8-bit non-palette PNG (colour type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA); tests use it
    /// to make inputs the decoder must convert.</summary>
    internal static void WriteRaw(Stream output, int width, int height, byte colourType, int channels, byte[] samples, CompressionLevel level = CompressionLevel.Optimal)
    {
        if (samples.Length != (long)width * height * channels)
            throw new ArgumentException($"{samples.Length} samples for a {width}x{height} image with {channels} channels", nameof(samples));
        output.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;           // bit depth
        header[9] = colourType;
        header[10] = 0;          // compression: deflate
        header[11] = 0;          // filter method 0
        header[12] = 0;          // no interlace
        WriteChunk(output, "IHDR", header);

        using (var compressed = new MemoryStream())
        {
            using (var zlib = new ZLibStream(compressed, level, leaveOpen: true))
            {
                int rowBytes = width * channels;
                for (int y = 0; y < height; y++)
                {
                    zlib.WriteByte(0);  // filter type None
                    zlib.Write(samples, y * rowBytes, rowBytes);
                }
            }
            WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }
        WriteChunk(output, "IEND", []);
    }

    static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    /// <summary>The CRC-32 of the PNG specification (ISO 3309 polynomial 0xEDB88320, reflected).</summary>
    static class Crc32
    {
        static readonly uint[] Table = BuildTable();

        static uint[] BuildTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }
    }
}
