using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

/// <summary>Properties of the Pillow resampler beyond the golden images (which cover a bicubic
/// downscale 97x61→89x56 and an upscale 40x70→56x98 exactly).</summary>
public class PilResampleTests
{
    /// <summary>The pattern of make_pil_resize_digests.py: smooth ramps crossed by XOR edges, so both the
    /// filter body and its clamping matter.</summary>
    static RgbImage Pattern(int width, int height)
    {
        var image = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    image.Pixels[(y * width + x) * 3 + c] = (byte)((((x * 73) ^ (y * 151) ^ (c * 29)) + x * y) % 256);
        return image;
    }

    /// <summary>Pillow 9.4.0 <c>Image.resize</c> outputs, compared through their SHA-256 (exact equality):
    /// LLaVA-sized down- and upscales, non-integer factors, every antialiased filter.</summary>
    [Theory]
    [InlineData(640, 480, 336, 252, ResampleFilter.Bicubic, "27ef5de41401b3c9e195d5a51211e73b8e803ff2838a6749843b1d667ed7fe32")]
    [InlineData(480, 640, 336, 448, ResampleFilter.Bicubic, "f216c0c792af8ca7ce3a564d3382d4560ba6450df34c9535d2134d379dd261cd")]
    [InlineData(97, 61, 56, 35, ResampleFilter.Bicubic, "5aa6c0a20ff37778d8af8dc35f41fec80f2c8f174ef4ff4dc84680b80f35010d")]
    [InlineData(1000, 563, 596, 336, ResampleFilter.Bicubic, "6bb62641429f587cb3d9a688d05b5f700836eb070516d1a5c8d90b10f13d31fc")]
    [InlineData(300, 300, 336, 336, ResampleFilter.Bicubic, "26a894a6b14e35ad71054ec237c7a95a9a51a166fd35b20847ab99efbc85abc7")]
    [InlineData(13, 7, 56, 30, ResampleFilter.Bicubic, "bec2a0aeeb78c12b2f6f6a33083543fc6588feeb75b8dd68047d8e81c3bef27e")]
    [InlineData(336, 336, 24, 24, ResampleFilter.Bicubic, "ab7bef0bc64559540d731a712fcd644fceec536ae9d1daddd0c3c9b9bed26108")]
    [InlineData(400, 123, 57, 17, ResampleFilter.Lanczos, "c343a2963991e40f6966bb205ad5a9939a45a0b4d9c1ebaa54cc85c2252ffb2d")]
    [InlineData(400, 123, 57, 17, ResampleFilter.Bilinear, "c5b2dbe54c6102095d280e8bb3cfcc760ff2215bd0101cfa37b6fc1a38c7eb6a")]
    [InlineData(400, 123, 57, 17, ResampleFilter.Box, "ad388eef1e5a55857d6fed76c1ee36bf9a239fdb23491ef52c766c4229347de6")]
    [InlineData(400, 123, 57, 17, ResampleFilter.Hamming, "43826bdfa547152f0d7b37f0448500648ec0a8f9f49e0e2e18cafcbbec74676c")]
    [InlineData(31, 47, 200, 9, ResampleFilter.Bicubic, "e66dac831b41730fbf6d2b698f8e246b61e05de9bd8761512e22d6630cdb53e2")]
    public void Matches_Pillow_digest(int width, int height, int outWidth, int outHeight, ResampleFilter filter, string sha256)
    {
        var resized = PilResample.Resize(Pattern(width, height), outWidth, outHeight, filter);
        Assert.Equal(sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(resized.Pixels)));
    }

    [Theory]
    [InlineData(ResampleFilter.Bicubic)]
    [InlineData(ResampleFilter.Bilinear)]
    [InlineData(ResampleFilter.Lanczos)]
    [InlineData(ResampleFilter.Box)]
    [InlineData(ResampleFilter.Hamming)]
    public void Constant_images_stay_constant(ResampleFilter filter)
    {
        var image = new RgbImage(37, 23, (200, 3, 128));
        foreach (var (w, h) in new[] { (11, 7), (80, 50), (37, 9), (5, 23) })
        {
            var resized = PilResample.Resize(image, w, h, filter);
            Assert.Equal((w, h), (resized.Width, resized.Height));
            for (int i = 0; i < resized.Pixels.Length; i += 3)
                Assert.Equal((200, 3, 128), (resized.Pixels[i], resized.Pixels[i + 1], resized.Pixels[i + 2]));
        }
    }

    [Fact]
    public void Same_size_is_a_copy()
    {
        var image = new RgbImage(4, 4);
        new Random(1).NextBytes(image.Pixels);
        var same = PilResample.Resize(image, 4, 4);
        Assert.NotSame(image, same);
        Assert.Equal(image.Pixels, same.Pixels);
    }

    [Fact]
    public void Coefficients_sum_to_one_in_fixed_point_and_widen_when_shrinking()
    {
        // Downscale by 3: bicubic support 2 becomes 6, so up to 2*6+1 = 13 taps.
        var down = PilResample.Precompute(30, 10, ResampleFilter.Bicubic);
        Assert.Equal(13, down.MaxTaps);
        var up = PilResample.Precompute(10, 30, ResampleFilter.Bicubic);
        Assert.Equal(5, up.MaxTaps);
        foreach (var c in new[] { down, up })
            for (int i = 0; i < c.First.Length; i++)
            {
                long sum = 0;
                for (int t = 0; t < c.Count[i]; t++) sum += c.Weights[i * c.MaxTaps + t];
                Assert.InRange(sum, (1 << 22) - 8, (1 << 22) + 8);  // rounding each tap moves the sum by < 0.5 per tap
            }
    }

    [Fact]
    public void Bicubic_overshoot_is_clamped_to_uint8()
    {
        // A hard black/white edge upscaled with a = -0.5 rings past 0 and 255; PIL clamps.
        var image = new RgbImage(4, 1);
        for (int x = 2; x < 4; x++) image[x, 0] = (255, 255, 255);
        var wide = PilResample.Resize(image, 16, 1);
        Assert.Contains(wide.Pixels, b => b == 0);
        Assert.Contains(wide.Pixels, b => b == 255);
    }
}
