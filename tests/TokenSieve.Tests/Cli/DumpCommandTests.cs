using TokenSieve.Checkpoints;
using TokenSieve.Cli;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>`tokensieve dump` end to end on the tiny fixture: image file → every golden tensor.
/// Tolerance as in the parity tests (1e-4 of each tensor's max magnitude).</summary>
[Collection("console")]
public sealed class DumpCommandTests
{
    [Fact]
    public void Dump_of_the_fixture_reproduces_the_golden_tensors()
    {
        using var golden = new Golden(TestData.LlavaTiny);
        using var dir = TestData.TempDir();
        string ids = string.Join(",", golden.Ints("input_ids"));
        int rc = CliApp.Run("dump", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"),
            "--input-ids", ids, "--out", dir.File("dump.safetensors"), "--threads", "2");
        Assert.Equal(0, rc);
        using var dump = SafetensorsFile.Open(dir.File("dump.safetensors"));
        var names = new List<string> { "image_features.selected", "projector.linear_1", "projector.gelu", "projector.output", "llm.inputs_embeds", "llm.logits", "generate.step_logits" };
        for (int i = 0; i <= 4; i++) names.Add($"vision.hidden_states.{i}");
        for (int i = 0; i <= 2; i++) names.Add($"llm.hidden_states.{i}");
        foreach (var name in names)
        {
            Assert.Equal(golden.Shape(name), dump.Get(name).Shape);
            Compare.Relative(golden.Tensor(name), dump.Get(name).ToFloats(), 1e-4, name);
        }
        Compare.Relative(golden.Tensor("preprocess.image.pixel_values"), dump.Get("preprocess.pixel_values").ToFloats(), 1e-6, "pixel_values");
        Assert.Equal(golden.Ints("generated_ids"), dump.Get("generated_ids").ToFloats().Select(x => (int)x).ToArray());
    }

    [Theory]
    [InlineData("1,2,3", "hold 0 image placeholder(s) (id 250) but 1 --image")]
    [InlineData("1,250,250,3", "hold 2 image placeholder(s) (id 250) but 1 --image")]
    [InlineData("1,x,250", "not an integer")]
    [InlineData("1,250,999", "outside the vocabulary")]
    public void Bad_input_ids_are_clear_errors(string ids, string message)
    {
        using var dir = TestData.TempDir();
        var (rc, _, err) = CliCapture.Run("dump", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"),
            "--input-ids", ids, "--out", dir.File("d.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err);
    }
}

public sealed class VideoCliTests
{
    [Fact]
    public void Dump_takes_a_video_folder_and_run_refuses_one_for_a_model_without_a_video_tower()
    {
        using var dir = TestData.TempDir();
        string video = TestData.Path("video-llava-tiny");
        var (rc, _, err) = CliCapture.Run("dump", "--model", video, "--video", Path.Combine(video, "frames"),
            "--input-ids", "1,17,42,251,13,88,7,133,64,201,5", "--out", dir.File("v.safetensors"), "--max-new-tokens", "1");
        Assert.True(rc == 0, err);
        using (var f = global::TokenSieve.Checkpoints.SafetensorsFile.Open(dir.File("v.safetensors")))
            Assert.Equal([8, 10, 48], f.Get("image_features.selected").Shape);

        (rc, _, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--video", Path.Combine(video, "frames"), "--prompt", "what happens?");
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("--video needs a Video-LLaVA model", err);
        Assert.DoesNotContain("   at ", err);

        (rc, _, err) = CliCapture.Run("dump", "--model", video, "--video", dir.Path, "--input-ids", "1,251,5", "--out", dir.File("w.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("has no frames", err);
    }
}
