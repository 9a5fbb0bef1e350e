using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

/// <summary>Decoder agreement with Pillow (data/images: each file's <c>.ref.png</c> is Pillow 9.4 /
/// libjpeg-turbo 2.1.5's <c>convert('RGB')</c>) and the safety limits of issue 18.</summary>
public class DecoderRobustnessTests
{
    static string Dir => Path.Combine(AppContext.BaseDirectory, "data", "images");

    public static TheoryData<string> ReferenceFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "data", "images")).Order())
            if (!f.EndsWith(".ref.png") && File.Exists(f + ".ref.png") && !f.EndsWith("arith.jpg")) data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceFiles))]
    public void Decodes_exactly_like_Pillow(string file)
    {
        var image = ImageDecoder.Load(Path.Combine(Dir, file));
        var expected = ImageDecoder.Load(Path.Combine(Dir, file + ".ref.png"));
        Assert.Equal((expected.Width, expected.Height), (image.Width, image.Height));
        int differing = 0, max = 0;
        for (int i = 0; i < image.Pixels.Length; i++)
        {
            int d = Math.Abs(image.Pixels[i] - expected.Pixels[i]);
            if (d != 0) differing++;
            max = Math.Max(max, d);
        }
        Assert.True(differing == 0, $"{file}: {differing} bytes differ from Pillow, max {max}");
    }

    [Fact]
    public void The_reference_set_covers_the_jpeg_variants()
    {
        var files = Directory.GetFiles(Dir, "*.ref.png").Select(f => Path.GetFileName(f)[..^".ref.png".Length]).ToHashSet();
        foreach (var f in new[] { "s420.jpg", "s422.jpg", "s444.jpg", "s440.jpg", "s411.jpg", "grey.jpg", "prog420.jpg", "prog444.jpg", "proggrey.jpg", "restart.jpg", "restartprog.jpg", "cmyk.jpg", "rgb.jpg", "odd420.jpg", "one420.jpg" })
            Assert.Contains(f, files);
    }

    [Fact]
    public void Arithmetic_coded_jpeg_is_a_typed_error()
    {
        var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Load(Path.Combine(Dir, "arith.jpg")));
        Assert.Contains("not supported", e.Message);
    }

    static T Quick<T>(Func<T> f, int ms = 2000)
    {
        var sw = Stopwatch.StartNew();
        var r = f();
        Assert.True(sw.ElapsedMilliseconds < ms, $"took {sw.ElapsedMilliseconds} ms");
        return r;
    }

    [Fact]
    public void The_eight_byte_jpeg_that_hung_stb_image_is_an_error()
    {
        var e = Quick(() => Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46], "x.jpg")));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Every_truncation_of_a_progressive_jpeg_is_an_error_or_an_image_never_a_hang()
    {
        byte[] jpeg = File.ReadAllBytes(Path.Combine(Dir, "restartprog.jpg"));
        var sw = Stopwatch.StartNew();
        for (int n = 1; n < jpeg.Length; n += 7)
        {
            try
            {
                ImageDecoder.Decode(jpeg[..n], "cut.jpg");
            }
            catch (ImageDecodeException)
            {
            }
        }
        Assert.True(sw.ElapsedMilliseconds < 20000, $"{sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void A_scan_bomb_is_refused_quickly()
    {
        // A progressive JPEG declaring 6000x6000 whose file repeats its first (DC) scan 1000 times:
        // each repetition would decode every block of the declared image.
        byte[] jpeg = SetJpegSize(File.ReadAllBytes(Path.Combine(Dir, "prog444.jpg")), 6000, 6000);
        int sos = -1;
        for (int i = 2; i + 1 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) { sos = i; break; }
        int next = sos + 2;
        while (!(jpeg[next] == 0xFF && jpeg[next + 1] is not (0x00 or >= 0xD0 and <= 0xD7))) next++;
        var scan = jpeg.AsSpan(sos, next - sos).ToArray();
        var bomb = new List<byte>(jpeg.AsSpan(0, sos).ToArray());
        for (int k = 0; k < 1000; k++) bomb.AddRange(scan);
        bomb.AddRange(new byte[] { 0xFF, 0xD9 });
        Assert.True(bomb.Count < 1 << 20);
        var e = Quick(() => Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bomb.ToArray(), "bomb.jpg")), 20000);
        Assert.Contains("scans", e.Message);
    }

    static byte[] SetJpegSize(byte[] jpeg, int width, int height)
    {
        var copy = (byte[])jpeg.Clone();
        for (int i = 2; i + 9 < copy.Length; i++)
            if (copy[i] == 0xFF && copy[i + 1] is 0xC0 or 0xC2)
            {
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 5), (ushort)height);
                BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(i + 7), (ushort)width);
                return copy;
            }
        throw new InvalidOperationException("no SOF");
    }

    [Fact]
    public void Headers_claiming_huge_images_are_refused_before_allocating()
    {
        byte[] jpeg = SetJpegSize(File.ReadAllBytes(Path.Combine(Dir, "s420.jpg")), 20000, 20000);
        byte[] gif = File.ReadAllBytes(Path.Combine(Dir, "rose.gif"));
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(6), 20000);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(8), 20000);
        byte[] bmp = new byte[60];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 20000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), -20000);
        foreach (var (name, bytes) in new[] { ("huge.jpg", jpeg), ("huge.gif", gif), ("huge.bmp", bmp) })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(bytes, name));
            Assert.Contains("too large", e.Message);
            Assert.Equal(name, e.File);
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, $"{name} allocated {GC.GetAllocatedBytesForCurrentThread() - before} bytes");
        }
    }

    [Fact]
    public void A_gif_frame_reaching_past_a_huge_canvas_is_refused()
    {
        byte[] gif = File.ReadAllBytes(Path.Combine(Dir, "rose.gif"));
        int descriptor = FirstImageDescriptor(gif);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(descriptor + 1), 65000);
        BinaryPrimitives.WriteUInt16LittleEndian(gif.AsSpan(descriptor + 3), 65000);
        Assert.Contains("too large", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(gif, "far.gif")).Message);
    }

    static int FirstImageDescriptor(byte[] gif)
    {
        int pos = 13 + ((gif[10] & 0x80) != 0 ? 3 << ((gif[10] & 7) + 1) : 0);
        while (gif[pos] == 0x21)
        {
            pos += 2;
            while (gif[pos] != 0) pos += gif[pos] + 1;
            pos++;
        }
        Assert.Equal(0x2C, gif[pos]);
        return pos;
    }

    static byte[] Chunk(string type, byte[] data)
    {
        var c = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(c, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(c, 4);
        data.CopyTo(c, 8);
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in c.AsSpan(4, 4 + data.Length))
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(8 + data.Length), crc ^ 0xFFFFFFFFu);
        return c;
    }

    [Fact]
    public void A_png_compression_bomb_inflates_only_the_declared_rows()
    {
        // A 2x2 RGB PNG whose zlib stream holds 200 MB of zeros after the 2 needed rows.
        var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 200; i++) z.Write(zeros);
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 2);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), 2);
        ihdr[8] = 8;
        ihdr[9] = 2;
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr), .. Chunk("IDAT", raw.ToArray()), .. Chunk("IEND", [])];
        Assert.True(png.Length < 1 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var image = Quick(() => ImageDecoder.Decode(png, "bomb.png"));
        Assert.Equal(new byte[12], image.Pixels);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20);
    }

    [Fact]
    public void Png_crc_and_structure_errors_are_typed()
    {
        byte[] good = PngEncoder.Encode(new RgbImage(3, 2, (1, 2, 3)));
        var badCrc = (byte[])good.Clone();
        badCrc[29] ^= 1;
        Assert.Contains("CRC", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Decode(badCrc, "crc.png")).Message);
        var badFilter = new MemoryStream();
        PngEncoder.WriteRaw(badFilter, 1, 1, 2, 3, [1, 2, 3]);
        Assert.NotNull(ImageDecoder.Decode(badFilter.ToArray(), "ok.png"));
    }
}
