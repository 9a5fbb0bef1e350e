using TokenSieve.Imaging;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>The demo and train-lab verbs end to end: a few training steps give a llava-hf folder
/// (with a Unigram tokenizer.model) that `run` and `demo` load like any checkpoint.</summary>
[Collection("console")]
public sealed class DemoAndTrainLabTests
{
    [Fact]
    public void Demo_prints_the_table_and_writes_one_overlay_per_scene()
    {
        using var dir = TestData.TempDir();
        var (rc, output, err) = CliCapture.Run("demo", "--model", TestData.LlavaTiny, "--out", dir.Path, "--methods", "none;pool:4;prumerge+", "--threads", "1");
        Assert.True(rc == 0, err + output);
        Assert.Contains("all demo questions", output);
        Assert.Contains("pool:4", output);
        var pngs = Directory.GetFiles(dir.Path, "*.png");
        Assert.Equal(6, pngs.Length);
        var overlay = ImageDecoder.Load(pngs[0]);
        Assert.True(overlay.Width > 3 * (overlay.Height - 30), "three panels side by side, a 30-px label under each");
    }

    [Fact]
    public void Train_lab_writes_a_model_that_run_loads()
    {
        using var dir = TestData.TempDir();
        string model = Path.Combine(dir.Path, "lab");
        var (rc, output, err) = CliCapture.Run("train-lab", "--out", model, "--vision-steps", "2", "--decoder-steps", "2",
            "--validation-per-suite", "1", "--test-per-suite", "1");
        Assert.True(rc == 0, err + output);
        Assert.Contains("test counting", output);
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.model", "preprocessor_config.json" })
            Assert.True(File.Exists(Path.Combine(model, f)), f);
        string image = Path.Combine(dir.Path, "scene.png");
        PngEncoder.Save(new RgbImage(112, 112, ((byte)200, (byte)40, (byte)40)), image);
        (rc, output, err) = CliCapture.Run("run", "--model", model, "--image", image, "--prompt", "how many circles are there?",
            "--template", "llava_hf", "--aspect", "crop", "--reduce", "pool:16", "--max-new-tokens", "3");
        Assert.True(rc == 0, err + output);
        Assert.Contains("16 of 64", output);
    }
}
