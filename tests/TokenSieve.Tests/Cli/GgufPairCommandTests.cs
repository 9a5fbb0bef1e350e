using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>`tokensieve run --model LM.gguf --mmproj MMPROJ.gguf`: the pair written by `quantize --format llama.cpp`
/// answers as its folder does; a language-model GGUF without its mmproj, or a bad pair, is one error line and exit 2.</summary>
[Collection("console")]
public sealed class GgufPairCommandTests
{
    [Fact]
    public void Run_answers_from_a_gguf_pair_as_from_its_folder()
    {
        using var dir = TestData.TempDir();
        var (lm, mmproj) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), DType.F16, "model.f16.safetensors");
        string image = Path.Combine(TestData.LlavaTiny, "image.png");
        var (rc, pairOut, err) = CliCapture.Run("run", "--model", lm, "--mmproj", mmproj, "--image", image, "--prompt", "What is in the image?", "--max-new-tokens", "6", "--threads", "2");
        Assert.True(rc == 0, err);
        var (rc2, folderOut, err2) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--weights", "model.f16.safetensors", "--image", image, "--prompt", "What is in the image?", "--max-new-tokens", "6", "--threads", "2");
        Assert.True(rc2 == 0, err2);
        Assert.Equal(Answer(folderOut), Answer(pairOut));

        (rc, _, err) = CliCapture.Run("run", "--model", lm, "--image", image, "--prompt", "q");
        Assert.Equal(2, rc);
        Assert.Contains("--mmproj", err);
        (rc, _, err) = CliCapture.Run("run", "--model", mmproj, "--mmproj", lm, "--image", image, "--prompt", "q");
        Assert.Equal(2, rc);
        Assert.Contains("general.architecture", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void Inspect_dump_and_bench_take_the_pair_too()
    {
        using var dir = TestData.TempDir();
        var (lm, mmproj) = ModelExport.ExportLlamaCpp(TestData.LlavaTiny, dir.File("gguf"), DType.F16, "model.f16.safetensors");
        var (rc, output, err) = CliCapture.Run("inspect", "--model", lm, "--mmproj", mmproj);
        Assert.True(rc == 0, err);
        Assert.Contains("F16", output);

        string image = Path.Combine(TestData.LlavaTiny, "image.png");
        string pairDump = dir.File("pair.bin"), folderDump = dir.File("folder.bin");
        string[] common = ["--image", image, "--input-ids", "1,17,42,250,13,99,7", "--max-new-tokens", "2", "--threads", "1"];
        (rc, _, err) = CliCapture.Run(["dump", "--model", lm, "--mmproj", mmproj, "--out", pairDump, .. common]);
        Assert.True(rc == 0, err);
        (rc, _, err) = CliCapture.Run(["dump", "--model", TestData.LlavaTiny, "--weights", "model.f16.safetensors", "--out", folderDump, .. common]);
        Assert.True(rc == 0, err);
        Assert.Equal(File.ReadAllBytes(folderDump), File.ReadAllBytes(pairDump));

        (rc, _, err) = CliCapture.Run("bench", "--speed", "--model", lm, "--mmproj", mmproj);
        Assert.Equal(2, rc);
        Assert.Contains("--mmproj is not supported with --speed", err);
    }

    /// <summary>The answer: the first line the run prints (the report follows after an empty line).</summary>
    static string Answer(string output) => output.Split('\n')[0];
}
