using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

/// <summary>Properties of the Pillow resampler beyond the golden images (which cover a bicubic
/// downscale 97x61→89x56 and an upscale 40x70→56x98 exactly).</summary>
public class PilResampleTests
{
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
