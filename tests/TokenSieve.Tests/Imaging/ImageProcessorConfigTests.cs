using TokenSieve.Imaging;

namespace TokenSieve.Tests.Imaging;

public class ImageProcessorConfigTests
{
    static ImageProcessorConfig LoadText(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"tokensieve-{Guid.NewGuid():N}-preprocessor_config.json");
        File.WriteAllText(path, json);
        try
        {
            return ImageProcessorConfig.Load(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Fixture_config_is_read()
    {
        var c = ImageProcessorConfig.Load(Path.Combine(AppContext.BaseDirectory, "data", "llava-tiny"));
        Assert.Equal("CLIPImageProcessor", c.ProcessorType);
        Assert.Equal(56, c.ShortestEdge);
        Assert.Equal((56, 56), (c.CropHeight, c.CropWidth));
        Assert.Equal(ResampleFilter.Bicubic, c.Resample);
        Assert.Equal(0.00392156862745098, c.RescaleFactor);
        Assert.Equal(ImageProcessorConfig.ClipMean, c.ImageMean);
        Assert.Equal(ImageProcessorConfig.ClipStd, c.ImageStd);
    }

    [Fact]
    public void Missing_keys_take_llava_1_5_values()
    {
        var c = LoadText("{}");
        Assert.Equal(336, c.ShortestEdge);
        Assert.Equal((336, 336), (c.CropHeight, c.CropWidth));
        Assert.True(c.DoResize && c.DoCenterCrop && c.DoRescale && c.DoNormalize && c.DoConvertRgb);
        Assert.False(c.DoPad);
        Assert.Equal(ImageProcessorConfig.Default, c with { ImageMean = ImageProcessorConfig.Default.ImageMean, ImageStd = ImageProcessorConfig.Default.ImageStd });
    }

    [Fact]
    public void Legacy_and_exact_size_forms_are_understood()
    {
        var legacy = LoadText("""{"feature_extractor_type": "CLIPFeatureExtractor", "size": 224, "crop_size": 224}""");
        Assert.Equal(224, legacy.ShortestEdge);
        Assert.Equal((224, 224), (legacy.CropHeight, legacy.CropWidth));
        var exact = LoadText("""{"size": {"height": 30, "width": 40}, "do_center_crop": false}""");
        Assert.Null(exact.ShortestEdge);
        Assert.Equal((30, 40), (exact.ResizeHeight, exact.ResizeWidth));
        var processor = new ImageProcessor(exact);
        Assert.Equal((30, 40), processor.ResizedSize(100, 7));
        var stages = processor.RunStages(new RgbImage(7, 100, (1, 2, 3)), AspectMode.Crop);
        Assert.Equal((30, 40), (stages.Height, stages.Width));
        Assert.Equal(3 * 30 * 40, stages.PixelValues.Length);
    }

    [Theory]
    [InlineData("""{"image_processor_type": "SiglipImageProcessor"}""", "image_processor_type")]
    [InlineData("""{"resample": 0}""", "resample")]
    [InlineData("""{"resample": 9}""", "resample")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "image_mean")]
    [InlineData("""{"image_std": [0.5, 0, 0.5]}""", "image_std")]
    [InlineData("""{"size": {"shortest_edge": -3}}""", "size.shortest_edge")]
    [InlineData("""{"size": {"shortest_edge": 336, "longest_edge": 500}}""", "size.longest_edge")]
    [InlineData("""{"crop_size": {"height": 3}}""", "crop_size")]
    [InlineData("""{"do_resize": "yes"}""", "do_resize")]
    [InlineData("""[1, 2]""", "")]
    [InlineData("""{"size": """, "")]
    public void Bad_configs_name_the_file_and_key(string json, string key)
    {
        var e = Assert.Throws<ConfigException>(() => LoadText(json));
        Assert.EndsWith("preprocessor_config.json", e.File);
        if (key.Length > 0) Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Missing_file_is_a_config_error()
    {
        var e = Assert.Throws<ConfigException>(() => ImageProcessor.FromFile("/nonexistent/preprocessor_config.json"));
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Llava_image_processor_do_pad_pads_in_either_mode()
    {
        var c = LoadText("""{"image_processor_type": "LlavaImageProcessor", "do_pad": true, "size": {"shortest_edge": 8}, "crop_size": {"height": 8, "width": 8}}""");
        var stages = new ImageProcessor(c).RunStages(new RgbImage(16, 8, (0, 0, 0)), AspectMode.Crop);
        Assert.NotNull(stages.Squared);
        Assert.Equal((16, 16), (stages.Squared!.Width, stages.Squared.Height));
    }
}
