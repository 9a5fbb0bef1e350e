using TokenSieve.Checkpoints;
using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

/// <summary>CLIPImageProcessor parity against the llava-tiny goldens (transformers 4.40.2 + Pillow 9.4.0):
/// uint8 stages exactly, float stages within 1e-6 absolute. The rescale and normalize steps are the same
/// IEEE float32/float64 operations as numpy's, so they are in fact exact; 1e-6 is the golden's stated
/// tolerance, kept as the contract.</summary>
public class PreprocessGoldenTests
{
    static string Dir => Path.Combine(AppContext.BaseDirectory, "data", "llava-tiny");

    static float[] Golden(string name)
    {
        using var file = SafetensorsFile.Open(Path.Combine(Dir, "golden.safetensors"));
        return file.Get(name).ToFloats();
    }

    static int[] GoldenShape(string name)
    {
        using var file = SafetensorsFile.Open(Path.Combine(Dir, "golden.safetensors"));
        return file.Get(name).Shape;
    }

    static void AssertImageEqual(string tensor, RgbImage actual)
    {
        int[] shape = GoldenShape(tensor);
        Assert.Equal([actual.Height, actual.Width, 3], shape);
        float[] expected = Golden(tensor);
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != actual.Pixels[i] && mismatches++ == 0) first = i;
        Assert.True(mismatches == 0, $"{tensor}: {mismatches} of {expected.Length} bytes differ, first at {first}: expected {(first >= 0 ? expected[first] : 0)}, got {(first >= 0 ? actual.Pixels[first] : 0)}");
    }

    static double MaxAbsDiff(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs((double)expected[i] - actual[i]));
        return max;
    }

    [Theory]
    [InlineData("image", 97, 61, 89, 56)]
    [InlineData("image_extra0", 40, 70, 56, 98)]
    public void Crop_mode_matches_transformers_at_every_stage(string name, int width, int height, int resizedWidth, int resizedHeight)
    {
        var processor = ImageProcessor.FromFile(Path.Combine(Dir, "preprocessor_config.json"));
        var image = ImageDecoder.Load(Path.Combine(Dir, name + ".png"));
        Assert.Equal((width, height), (image.Width, image.Height));
        AssertImageEqual($"preprocess.{name}.raw_hwc", image);

        var stages = processor.RunStages(image, AspectMode.Crop);
        Assert.Null(stages.Squared);
        Assert.Equal((resizedWidth, resizedHeight), (stages.Resized.Width, stages.Resized.Height));
        AssertImageEqual($"preprocess.{name}.resized_hwc", stages.Resized);
        AssertImageEqual($"preprocess.{name}.cropped_hwc", stages.Cropped);
        Assert.True(MaxAbsDiff(Golden($"preprocess.{name}.rescaled_hwc"), stages.RescaledHwc) <= 1e-6);
        Assert.Equal([1, 3, 56, 56], GoldenShape($"preprocess.{name}.pixel_values"));
        Assert.True(MaxAbsDiff(Golden($"preprocess.{name}.pixel_values"), stages.PixelValues) <= 1e-6);
        Assert.Equal(stages.PixelValues, processor.Preprocess(Path.Combine(Dir, name + ".png"), AspectMode.Crop));
    }

    [Theory]
    [InlineData("image")]
    [InlineData("image_extra0")]
    public void Float_stages_are_bit_exact(string name)
    {
        var processor = ImageProcessor.FromFile(Dir);
        var stages = processor.RunStages(ImageDecoder.Load(Path.Combine(Dir, name + ".png")), AspectMode.Crop);
        Assert.Equal(0.0, MaxAbsDiff(Golden($"preprocess.{name}.rescaled_hwc"), stages.RescaledHwc));
        Assert.Equal(0.0, MaxAbsDiff(Golden($"preprocess.{name}.pixel_values"), stages.PixelValues));
    }

    [Fact]
    public void Pad_mode_pastes_the_image_centred_on_the_mean_colour()
    {
        var processor = ImageProcessor.FromFile(Dir);
        Assert.Equal(((byte)122, (byte)116, (byte)104), processor.PadColor);
        var image = ImageDecoder.Load(Path.Combine(Dir, "image.png"));  // 97x61: offset (97-61)//2 = 18 rows
        var stages = processor.RunStages(image, AspectMode.Pad);
        var square = stages.Squared!;
        Assert.Equal((97, 97), (square.Width, square.Height));
        Assert.Equal(((byte)122, (byte)116, (byte)104), square[0, 17]);
        Assert.Equal(image[5, 0], square[5, 18]);
        Assert.Equal(image[96, 60], square[96, 78]);
        Assert.Equal(((byte)122, (byte)116, (byte)104), square[96, 79]);
        Assert.Equal((56, 56), (stages.Resized.Width, stages.Resized.Height));
        Assert.Same(stages.Resized, stages.Cropped);
        Assert.Equal(3 * 56 * 56, stages.PixelValues.Length);

        var tall = ImageDecoder.Load(Path.Combine(Dir, "image_extra0.png"));  // 40x70: offset 15 columns
        var tallSquare = processor.ExpandToSquare(tall);
        Assert.Equal(((byte)122, (byte)116, (byte)104), tallSquare[14, 3]);
        Assert.Equal(tall[0, 3], tallSquare[15, 3]);
        Assert.Equal(tall[39, 69], tallSquare[54, 69]);
        Assert.Equal(((byte)122, (byte)116, (byte)104), tallSquare[55, 3]);
    }

    /// <summary>SHA-256 of the squared and resized uint8 images from LLaVA's own <c>expand2square</c>
    /// (Image.new + paste) and Pillow 9.4.0 <c>resize((56, 56), BICUBIC)</c>.</summary>
    [Theory]
    [InlineData("image", 97, "01f4d91da49201f51485cd4f43a662067a7a20e1c1716c634d615b4a6164efec", "809f349ecaab1c3b30874afda8bbd1bba3ceb3545cf57a8b061a019926bffd83")]
    [InlineData("image_extra0", 70, "768d4180501ad9cb609c083edbeadad02726bd2ee1984dd7d8d62a15fe88cc48", "7312355e3c9da29752c540097eb5b7b8ef0dcf236f73852a4b89d73293277a8a")]
    public void Pad_mode_matches_llava_expand2square_and_Pillow(string name, int side, string squaredSha256, string resizedSha256)
    {
        var processor = ImageProcessor.FromFile(Dir);
        var stages = processor.RunStages(ImageDecoder.Load(Path.Combine(Dir, name + ".png")), AspectMode.Pad);
        Assert.Equal((side, side), (stages.Squared!.Width, stages.Squared.Height));
        Assert.Equal(squaredSha256, Sha256(stages.Squared.Pixels));
        Assert.Equal(resizedSha256, Sha256(stages.Resized.Pixels));
    }

    static string Sha256(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    [Fact]
    public void Resized_size_follows_transformers_shortest_edge_rule()
    {
        var processor = new ImageProcessor(ImageProcessorConfig.Default);
        Assert.Equal((336, 448), processor.ResizedSize(336, 448));   // short side already 336: no resize
        Assert.Equal((336, 448), processor.ResizedSize(480, 640));
        Assert.Equal((596, 336), processor.ResizedSize(1000, 563));  // int(336*1000/563) = int(596.80) truncates
        Assert.Equal((336, 504), processor.ResizedSize(2, 3));       // upscaling uses the same rule
    }

    [Fact]
    public void Crop_smaller_than_image_pads_with_zeros_like_transformers()
    {
        var processor = new ImageProcessor(ImageProcessorConfig.Default with { CropHeight = 6, CropWidth = 4 });
        var image = new RgbImage(3, 3, (9, 9, 9));
        var cropped = processor.CenterCrop(image);
        Assert.Equal((4, 6), (cropped.Width, cropped.Height));
        // new 6x4 canvas, image pasted at top ceil(3/2)=2, left ceil(1/2)=1; crop origin (-2)//2 = -1 + pad.
        int nonZero = 0;
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 4; x++)
                if (cropped[x, y].R != 0) nonZero++;
        Assert.Equal(9, nonZero);
        Assert.Equal((byte)9, cropped[1, 2].R);
        Assert.Equal((byte)0, cropped[0, 2].R);
    }
}
