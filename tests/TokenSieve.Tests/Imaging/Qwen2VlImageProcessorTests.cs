using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Imaging;

/// <summary>Qwen2VLImageProcessor parity against the qwen2-vl-tiny goldens (transformers 4.45.1, Pillow 9.4.0).
/// smart_resize is integer arithmetic and is compared exactly; the resized uint8 images exactly (PIL's
/// fixed-point bicubic); pixel_values within 1e-6 absolute, the fixture's stated tolerance (one uint8 step is
/// ≈0.015 after normalisation, so 1e-6 cannot hide a wrong pixel or a wrong patch order), although the float32
/// operations are the same as numpy's and in fact agree bit for bit.</summary>
public class Qwen2VlImageProcessorTests
{
    static string Dir => TestData.Path("qwen2-vl-tiny");

    public static IEnumerable<object[]> SmartResizeVectors()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "golden.json")));
        int index = 0;
        foreach (var v in doc.RootElement.GetProperty("smart_resize_vectors").EnumerateArray())
            yield return [index++, v.GetProperty("height").GetInt32(), v.GetProperty("width").GetInt32(),
                v.GetProperty("min_pixels").GetInt32(), v.GetProperty("max_pixels").GetInt32(),
                v.TryGetProperty("resized_hw", out var hw) ? $"{hw[0].GetInt32()}x{hw[1].GetInt32()}" : "error"];
    }

    [Fact]
    public void There_are_69_smart_resize_vectors()
    {
        Assert.Equal(69, SmartResizeVectors().Count());
    }

    /// <summary><paramref name="expected"/> is "HxW" from the reference, or "error" where it raises. A zero side
    /// (the reference returns it and its resize then fails) must be refused.</summary>
    [Theory]
    [MemberData(nameof(SmartResizeVectors))]
    public void Smart_resize_matches_the_reference(int index, int height, int width, int minPixels, int maxPixels, string expected)
    {
        _ = index;
        bool zeroSide = expected.StartsWith("0x") || expected.EndsWith("x0");
        if (expected == "error" || zeroSide)
        {
            var e = Assert.Throws<ImageSizeException>(() => Qwen2VlImageProcessor.SmartResize(height, width, 28, minPixels, maxPixels));
            Assert.Contains($"{width}x{height}", e.Message);
            return;
        }
        var (h, w) = Qwen2VlImageProcessor.SmartResize(height, width, 28, minPixels, maxPixels);
        Assert.Equal(expected, $"{h}x{w}");
    }

    [Theory]
    [InlineData("golden", "image.png", 0, 70, 98)]
    [InlineData("golden.two_images", "image_a.png", 0, 100, 170)]
    [InlineData("golden.two_images", "image_b.png", 1, 33, 45)]
    public void Preprocess_matches_the_goldens(string golden, string imageFile, int k, int height, int width)
    {
        var processor = Qwen2VlImageProcessor.FromFile(Dir);
        var image = ImageDecoder.Load(Path.Combine(Dir, imageFile));
        Assert.Equal((width, height), (image.Width, image.Height));
        var result = processor.Preprocess(image);

        using var file = SafetensorsFile.Open(Path.Combine(Dir, golden + ".safetensors"));
        string prefix = $"preprocess.image{k}.";
        float[] grid = file.Get(prefix + "image_grid_thw").ToFloats();
        Assert.Equal(grid.Select(g => (int)g).ToArray(), new[] { result.Grid.T, result.Grid.H, result.Grid.W });
        Assert.Equal(result.Grid.PatchCount / 4, result.MergedTokenCount);

        var resized = file.Get(prefix + "resized_hwc");
        Assert.Equal([result.Resized.Height, result.Resized.Width, 3], resized.Shape);
        float[] expectedPixels = resized.ToFloats();
        int mismatches = 0;
        for (int i = 0; i < expectedPixels.Length; i++) if (expectedPixels[i] != result.Resized.Pixels[i]) mismatches++;
        Assert.True(mismatches == 0, $"{imageFile}: {mismatches} of {expectedPixels.Length} resized bytes differ");

        var pixelValues = file.Get(prefix + "pixel_values");
        Assert.Equal([result.PatchCount, result.PatchLength], pixelValues.Shape);
        Assert.Equal(1176, result.PatchLength);
        float[] expected = pixelValues.ToFloats();
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - result.PixelValues[i]);
            if (d > worst) (worst, at) = (d, i);
        }
        Assert.True(worst <= 1e-6, $"{imageFile}: pixel_values differ by {worst:g4} at row {at / 1176}, column {at % 1176}");
    }

    [Fact]
    public void Golden_grids_agree_with_golden_json()
    {
        foreach (var (json, count) in new[] { ("golden.json", 1), ("golden.two_images.json", 2) })
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, json)));
            var images = doc.RootElement.GetProperty("images").EnumerateArray().ToList();
            Assert.Equal(count, images.Count);
            var processor = Qwen2VlImageProcessor.FromFile(Path.Combine(Dir, "preprocessor_config.json"));
            foreach (var img in images)
            {
                var result = processor.Preprocess(Path.Combine(Dir, img.GetProperty("file").GetString()!));
                var thw = img.GetProperty("image_grid_thw").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                Assert.Equal(thw, new[] { result.Grid.T, result.Grid.H, result.Grid.W });
                Assert.Equal(img.GetProperty("num_merged_tokens").GetInt32(), result.MergedTokenCount);
                var hw = img.GetProperty("resized_hw").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                Assert.Equal(hw, new[] { result.Resized.Height, result.Resized.Width });
            }
        }
    }

    [Fact]
    public void Rows_are_in_merge_window_order_with_channel_frame_y_x_columns()
    {
        // A synthetic 56x84 image (no resize needed: both sides are multiples of 28 and the area is in range)
        // whose every pixel encodes its position, so the row and column layout can be read back.
        int width = 84, height = 56;
        var image = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                image[x, y] = ((byte)x, (byte)y, (byte)(x + y));
        var config = new Qwen2VlImageProcessorConfig { DoNormalize = false, DoRescale = false };
        var result = new Qwen2VlImageProcessor(config).Preprocess(image);
        Assert.Same(image, result.Resized);
        Assert.Equal(new Qwen2VlGrid(1, 4, 6), result.Grid);
        int P = 14, rowLength = 1176;
        for (int row = 0; row < result.PatchCount; row++)
        {
            int window = row / 4, wh = window / 3, ww = window % 3, mh = row % 4 / 2, mw = row % 2;
            int y0 = (wh * 2 + mh) * P, x0 = (ww * 2 + mw) * P;
            for (int c = 0; c < 3; c++)
                for (int t = 0; t < 2; t++)
                    foreach (var (py, px) in new[] { (0, 0), (0, 13), (13, 0), (5, 9) })
                    {
                        float v = result.PixelValues[row * rowLength + ((c * 2 + t) * P + py) * P + px];
                        var pixel = image[x0 + px, y0 + py];
                        Assert.Equal(c switch { 0 => pixel.R, 1 => pixel.G, _ => pixel.B }, v);
                    }
        }
    }

    [Fact]
    public void Other_bounds_change_the_grid()
    {
        var image = ImageDecoder.Load(Path.Combine(Dir, "image_a.png"));  // 170x100
        var roomy = new Qwen2VlImageProcessor(new Qwen2VlImageProcessorConfig { MaxPixels = 28 * 28 * 1280 }).Preprocess(image);
        Assert.Equal(new Qwen2VlGrid(1, 8, 12), roomy.Grid);  // round branch: 112x168
        Assert.Equal(24, roomy.MergedTokenCount);
        Assert.Equal(roomy.PatchCount * 1176, roomy.PixelValues.Length);
    }

    [Fact]
    public void Unusable_images_are_rejected_with_their_size()
    {
        var processor = Qwen2VlImageProcessor.FromFile(Dir);
        var e = Assert.Throws<ImageSizeException>(() => processor.Preprocess(new RgbImage(100, 27)));
        Assert.Contains("100x27", e.Message);
        Assert.Equal((100, 27), (e.Width, e.Height));
        e = Assert.Throws<ImageSizeException>(() => processor.Preprocess(new RgbImage(28, 1000)));  // floor branch → width 0
        Assert.Contains("zero", e.Message);
        Assert.Contains("below min_pixels", e.Message);
        var noResize = new Qwen2VlImageProcessor(new Qwen2VlImageProcessorConfig { DoResize = false });
        Assert.Throws<ImageSizeException>(() => noResize.Preprocess(new RgbImage(60, 56)));
    }

    [Fact]
    public void An_unusable_image_file_is_named()
    {
        using var dir = TestData.TempDir();
        string path = dir.File("tiny.png");
        new RgbImage(20, 40).SavePng(path);
        var e = Assert.Throws<ImageSizeException>(() => Qwen2VlImageProcessor.FromFile(Dir).Preprocess(path));
        Assert.Equal(path, e.File);
        Assert.Contains("28", e.Message);
    }

    [Fact]
    public void Reads_the_fixture_config()
    {
        var c = Qwen2VlImageProcessorConfig.Load(Dir);
        Assert.Equal((3136, 15680, 14, 2, 2, 28), (c.MinPixels, c.MaxPixels, c.PatchSize, c.TemporalPatchSize, c.MergeSize, c.Factor));
        Assert.Equal(ResampleFilter.Bicubic, c.Resample);
        Assert.Equal(ImageProcessorConfig.ClipMean, c.ImageMean);
        var defaults = Qwen2VlImageProcessorConfig.Parse(JsonDocument.Parse("{}").RootElement, "x.json");
        Assert.Equal((56 * 56, 28 * 28 * 1280), (defaults.MinPixels, defaults.MaxPixels));
        var newer = Qwen2VlImageProcessorConfig.Parse(JsonDocument.Parse("{\"size\": {\"shortest_edge\": 1000, \"longest_edge\": 9000}}").RootElement, "x.json");
        Assert.Equal((1000, 9000), (newer.MinPixels, newer.MaxPixels));
    }

    [Theory]
    [InlineData("{\"image_processor_type\": \"CLIPImageProcessor\"}", "image_processor_type")]
    [InlineData("{\"min_pixels\": -5}", "min_pixels")]
    [InlineData("{\"max_pixels\": \"lots\"}", "max_pixels")]
    [InlineData("{\"min_pixels\": 5000, \"max_pixels\": 4000}", "max_pixels")]
    [InlineData("{\"min_pixels\": 3136, \"size\": {\"min_pixels\": 4000}}", "min_pixels")]
    [InlineData("{\"patch_size\": 0}", "patch_size")]
    [InlineData("{\"merge_size\": 1.5}", "merge_size")]
    [InlineData("{\"temporal_patch_size\": null, \"image_mean\": [0.5, 0.5]}", "image_mean")]
    [InlineData("{\"image_std\": [0.5, 0, 0.5]}", "image_std")]
    [InlineData("{\"resample\": 0}", "resample")]
    [InlineData("{\"resample\": 9}", "resample")]
    [InlineData("{\"do_resize\": \"yes\"}", "do_resize")]
    [InlineData("{\"size\": 224}", "size")]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("{\"min_pixels\": 3136,", "not valid JSON")]
    public void Bad_preprocessor_config_names_the_file_and_key(string content, string key)
    {
        using var dir = TestData.TempDir();
        string path = dir.File("preprocessor_config.json");
        File.WriteAllText(path, content);
        var e = Assert.Throws<ConfigException>(() => Qwen2VlImageProcessorConfig.Load(dir.Path));
        Assert.Equal(path, e.File);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void A_missing_config_is_named()
    {
        using var dir = TestData.TempDir();
        var e = Assert.Throws<ConfigException>(() => Qwen2VlImageProcessor.FromFile(dir.Path));
        Assert.Contains("preprocessor_config.json", e.Message);
    }
}
