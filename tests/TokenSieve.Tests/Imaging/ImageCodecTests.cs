using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

public class ImageCodecTests
{
    static RgbImage Pattern(int width, int height, int seed)
    {
        var rng = new Random(seed);
        var image = new RgbImage(width, height);
        rng.NextBytes(image.Pixels);
        return image;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 3)]
    [InlineData(64, 33)]
    public void Png_round_trips_exactly(int width, int height)
    {
        var image = Pattern(width, height, width * 100 + height);
        var decoded = ImageDecoder.Decode(PngEncoder.Encode(image), "round-trip.png");
        Assert.Equal((width, height), (decoded.Width, decoded.Height));
        Assert.Equal(image.Pixels, decoded.Pixels);
    }

    [Fact]
    public void Png_save_and_load_through_files()
    {
        string path = Path.Combine(Path.GetTempPath(), $"tokensieve-{Guid.NewGuid():N}.png");
        try
        {
            var image = new RgbImage(5, 4, (10, 200, 30));
            image[2, 1] = (255, 0, 128);
            image.SavePng(path);
            var loaded = RgbImage.Load(path);
            Assert.Equal(image.Pixels, loaded.Pixels);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Fixture_png_reencodes_to_the_same_pixels()
    {
        var image = ImageDecoder.Load(Path.Combine(AppContext.BaseDirectory, "data", "llava-tiny", "image.png"));
        Assert.Equal(image.Pixels, ImageDecoder.Decode(PngEncoder.Encode(image)).Pixels);
    }

    static byte[] RawPng(int width, int height, byte colourType, int channels, byte[] samples)
    {
        using var stream = new MemoryStream();
        PngEncoder.WriteRaw(stream, width, height, colourType, channels, samples);
        return stream.ToArray();
    }

    [Fact]
    public void Grey_is_replicated_to_rgb()
    {
        var image = ImageDecoder.Decode(RawPng(2, 1, 0, 1, [7, 250]), "grey.png");
        Assert.Equal(new byte[] { 7, 7, 7, 250, 250, 250 }, image.Pixels);
    }

    [Fact]
    public void Alpha_is_dropped_not_composited_like_PIL_convert_RGB()
    {
        var rgba = ImageDecoder.Decode(RawPng(2, 1, 6, 4, [10, 20, 30, 0, 40, 50, 60, 128]), "rgba.png");
        Assert.Equal(new byte[] { 10, 20, 30, 40, 50, 60 }, rgba.Pixels);
        var greyAlpha = ImageDecoder.Decode(RawPng(1, 1, 4, 2, [99, 0]), "la.png");
        Assert.Equal(new byte[] { 99, 99, 99 }, greyAlpha.Pixels);
    }

    [Fact]
    public void Undecodable_inputs_raise_ImageDecodeException_naming_the_file()
    {
        string dir = Directory.CreateTempSubdirectory("tokensieve-img").FullName;
        try
        {
            byte[] good = PngEncoder.Encode(Pattern(16, 16, 1));
            var cases = new Dictionary<string, byte[]>
            {
                ["empty.png"] = [],
                ["text.png"] = "not an image at all"u8.ToArray(),
                ["truncated.png"] = good[..(good.Length / 2)],
                ["header-only.png"] = good[..33],
                ["zero-size.png"] = RawPngWithSize(0, 4),
                ["huge.png"] = RawPngWithSize(20000, 20000),
            };
            foreach (var (name, bytes) in cases)
            {
                string path = Path.Combine(dir, name);
                File.WriteAllBytes(path, bytes);
                var e = Assert.Throws<ImageDecodeException>(() => ImageDecoder.Load(path));
                Assert.Equal(path, e.File);
                Assert.StartsWith(path + ": ", e.Message);
            }
            // stb_image refuses oversized headers itself instead of allocating gigabytes.
            Assert.Contains("too large", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Load(Path.Combine(dir, "huge.png"))).Message);
            string missing = Path.Combine(dir, "missing.png");
            Assert.Contains("not found", Assert.Throws<ImageDecodeException>(() => ImageDecoder.Load(missing)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>A 1x1 PNG whose IHDR claims another size (RgbImage cannot be zero-sized, so the header is
    /// patched and its CRC recomputed), to check that a zero-size image is refused.</summary>
    static byte[] RawPngWithSize(int width, int height)
    {
        byte[] png = RawPng(1, 1, 2, 3, [1, 2, 3]);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in png.AsSpan(12, 17))
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), crc ^ 0xFFFFFFFFu);
        return png;
    }

    [Fact]
    public void RgbImage_validates_sizes_and_crops()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RgbImage(0, 3));
        Assert.Throws<ArgumentException>(() => new RgbImage(2, 2, new byte[11]));
        var image = Pattern(6, 5, 3);
        var crop = image.Crop(1, 2, 4, 3);
        Assert.Equal(image[1, 2], crop[0, 0]);
        Assert.Equal(image[4, 4], crop[3, 2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => image.Crop(3, 0, 4, 1));
    }
}
