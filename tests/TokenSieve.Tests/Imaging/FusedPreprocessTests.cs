using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

/// <summary><see cref="ImageProcessor.Preprocess(RgbImage, AspectMode)"/> computes pad / resize / crop
/// without materialising the square; it must give exactly the bytes of the staged reference path.</summary>
public class FusedPreprocessTests
{
    static RgbImage Noise(int w, int h, int seed)
    {
        var image = new RgbImage(w, h);
        new Random(seed).NextBytes(image.Pixels);
        return image;
    }

    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 97, 61, 0 }, { 40, 70, 1 }, { 56, 56, 2 }, { 3, 200, 3 }, { 300, 2, 4 }, { 1, 1, 5 }, { 1, 90, 6 }, { 20, 21, 7 }, { 130, 17, 8 }, { 7, 100, 9 },
    };

    static readonly ImageProcessorConfig[] Configs =
    [
        ImageProcessorConfig.Default with { ShortestEdge = 56, CropHeight = 56, CropWidth = 56 },
        ImageProcessorConfig.Default with { ShortestEdge = 24, CropHeight = 20, CropWidth = 30, Resample = ResampleFilter.Bilinear },
        ImageProcessorConfig.Default with { ShortestEdge = 64, CropHeight = 80, CropWidth = 50, Resample = ResampleFilter.Lanczos },
        ImageProcessorConfig.Default with { ShortestEdge = null, ResizeHeight = 30, ResizeWidth = 40, DoCenterCrop = false, Resample = ResampleFilter.Box },
        ImageProcessorConfig.Default with { ShortestEdge = 33, DoCenterCrop = false, Resample = ResampleFilter.Hamming },
        ImageProcessorConfig.Default with { DoResize = false, CropHeight = 16, CropWidth = 12 },
        ImageProcessorConfig.Default with { ShortestEdge = 40, CropHeight = 40, CropWidth = 40, DoPad = true },
    ];

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Fused_path_equals_the_staged_path_bit_for_bit(int width, int height, int seed)
    {
        var image = Noise(width, height, seed);
        foreach (var config in Configs)
            foreach (var mode in new[] { AspectMode.Pad, AspectMode.Crop })
            {
                var processor = new ImageProcessor(config);
                var staged = processor.RunStages(image, mode);
                var fused = processor.Preprocess(image, mode);
                Assert.True(staged.PixelValues.AsSpan().SequenceEqual(fused), $"{width}x{height} {mode} {config}");
                Assert.Equal(staged.Cropped.Pixels, processor.ResizeAndCrop(image, mode).Pixels);
            }
    }

    [Fact]
    public void Fixture_images_give_the_same_pixel_values_as_before()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "data", "llava-tiny");
        var processor = ImageProcessor.FromFile(dir);
        foreach (var name in new[] { "image.png", "image_extra0.png" })
            foreach (var mode in new[] { AspectMode.Pad, AspectMode.Crop })
            {
                var image = ImageDecoder.Load(Path.Combine(dir, name));
                Assert.Equal(processor.RunStages(image, mode).PixelValues, processor.Preprocess(image, mode));
            }
    }

    [Theory]
    [InlineData(1, 30000)]
    [InlineData(30000, 1)]
    [InlineData(1, 65535)]
    public void Thin_images_preprocess_in_bounded_memory(int width, int height)
    {
        var image = Noise(width, height, 11);
        var processor = new ImageProcessor(ImageProcessorConfig.Default);
        foreach (var mode in new[] { AspectMode.Pad, AspectMode.Crop })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var pixels = processor.Preprocess(image, mode);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(3 * 336 * 336, pixels.Length);
            // The padded square alone would be width·height·... = 2.7 GB at 30000²; the fused path stays
            // within the 32 MB band budget plus the coefficient tables and the output.
            Assert.True(allocated < 200L << 20, $"{width}x{height} {mode}: allocated {allocated >> 20} MB");
        }
        Assert.Throws<InvalidInputException>(() => processor.RunStages(image, AspectMode.Pad));
        Assert.Throws<InvalidInputException>(() => processor.ExpandToSquare(image));
    }

    [Fact]
    public void Thin_image_pad_mode_matches_a_small_staged_equivalent()
    {
        // 1x300 vs the staged path (small enough to materialise): exactness of the pad-weight shortcut
        // on a strongly elongated input, with every filter.
        var image = Noise(1, 300, 12);
        foreach (ResampleFilter f in new[] { ResampleFilter.Bicubic, ResampleFilter.Lanczos, ResampleFilter.Bilinear, ResampleFilter.Box, ResampleFilter.Hamming })
        {
            var processor = new ImageProcessor(ImageProcessorConfig.Default with { ShortestEdge = 32, CropHeight = 32, CropWidth = 32, Resample = f });
            Assert.Equal(processor.RunStages(image, AspectMode.Pad).PixelValues, processor.Preprocess(image, AspectMode.Pad));
            Assert.Equal(processor.RunStages(image, AspectMode.Crop).PixelValues, processor.Preprocess(image, AspectMode.Crop));
        }
    }

    [Fact]
    public void A_config_without_crop_cannot_ask_for_a_gigantic_output()
    {
        var processor = new ImageProcessor(ImageProcessorConfig.Default with { DoCenterCrop = false, ShortestEdge = 336 });
        Assert.Throws<InvalidInputException>(() => processor.Preprocess(new RgbImage(1, 65535), AspectMode.Crop));
    }
}
