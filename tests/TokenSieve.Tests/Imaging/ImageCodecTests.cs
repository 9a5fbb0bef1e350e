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
            // The header's size is checked against ImageLimits before anything is allocated.
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

    /// <summary>A 16x16 crop of the fixture image saved by Pillow 9.4.0 as JPEG (quality 90, 4:2:0).</summary>
    const string JpegBase64 =
        "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMU" +
        "FRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU" +
        "FBQUFBQUFBT/wAARCAAQABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUF" +
        "BAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVW" +
        "V1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi" +
        "4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC" +
        "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVm" +
        "Z2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq" +
        "8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5aHg6/Ksry2jq5YuWDMXJPcsCMEAAjHHqcCvXPA8aW/nO6NN8gkVFQHcyjABGRkfJnHtz" +
        "kHjk/DS3XiPZtspISGKTDejeUxXMa5yAS54GDgjGCT8tes+DdAu4NK2rOUmWLoFA8tmOcZJGATwR1ypGOpHweYUcyz2DdNtu+ttv" +
        "62t+B/U1PhrhLL6EauTNtqSvzcz0f+JK32dd7dz/2Q==";

    /// <summary>Pillow's (libjpeg-turbo's) decode of <see cref="JpegBase64"/>, RGB HWC.</summary>
    const string PillowDecodedBase64 =
        "KlR8GkFoCipRLFBmDTo1K0o7QjM4Kg8UVEdBZVxLVz4oelgyimMgpnAmpFobsFsiE0BnAi1PGDtXH0FNK1NILUU1TkNBWT8+XEw8" +
        "dGBFakMkh1YrnGYmo2MbnksJ239AD0RmEEBXJk1UOVpTK0YzNEMuJiAURjMiYEkgd08eeDQFrVoopFIWr1YS3HYs1GgdIClKLjZL" +
        "NDw+GhoOKx4OUzgnVC0eYjIbd0EVk04XnkgNkTEAv2Acx2EZ12MWyVABfSdMSwAZaS01bC8sch8bdhAMlyYegQwAqDYbqD0RokUC" +
        "r1gJq08A4nkm52gb41sPwSFFwCtIsC07sC01viYzyyUxzSMmziIgzCUdvS4Qr0kJoEsAr1MAv1IA2VUKxzcA5hEt5xUu4BIn3Q0j" +
        "7hU05wop4w4i7hsq5xMi0BsUxVAbmkMAuFsLy2AS11IN00IB+gsi9QYd/g8k/wwo/wYs/wcv9woo8gok+Aoq5BghxUAXrEYEwlcT" +
        "wEkH6mQn4VIY+gka/hAg9Aka/hAn+QEm+wIq/Q8v9Qop9wcs4w4g6k413VsqyEAQ618u9mw77GIx/w8l9QYb+xMj8Qgd/w0v/w4y" +
        "8wUl9Qop/w0z7hMp4DYp308t4VMv7mA83E0r41Qy/Aco+Agl+g0n8AYf+wso9gcm9Aso+g8t+wUq8g4p5TIuyDgg1lk72VxA10Qy" +
        "4UU44Rk14Bkw3xsn5SAq3RMh5hgs5Rcu5RAs5Qgp7Rs06DhCyDkzylRKw01D7Vha1DM5fxEUkiIehhMBxk04pSMWlgcJ8lVo2TJM" +
        "xBsw1zBE7VFm3lNmwUpe932S7lt15UZiRAIAWhMAmkkshzASdhwBmjQotDVGsCNDwjFO3khr0jto5liI3GOOv0hy31OC30t7jEsr" +
        "dCkMeRgFpkYwnE0vlT8u3Wh60UZvuCNb81ab2jeI4EmWy1GM5XKr6Gas6mStby4GlUYnfxgJjigZw3hZsGRNmSg65l6M5U6TzzCE" +
        "70ap0DWR6W6x2mmpzVKi3V20";

    /// <summary>The JPEG decoder follows libjpeg-turbo (Pillow's JPEG library), so this Pillow-written
    /// 4:2:0 JPEG decodes to exactly Pillow's bytes (stb_image, used before, was up to 3 levels off).</summary>
    [Fact]
    public void Jpeg_decodes_exactly_like_Pillow()
    {
        var image = ImageDecoder.Decode(Convert.FromBase64String(JpegBase64), "crop.jpg");
        byte[] expected = Convert.FromBase64String(PillowDecodedBase64);
        Assert.Equal((16, 16), (image.Width, image.Height));
        Assert.Equal(expected, image.Pixels);
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
