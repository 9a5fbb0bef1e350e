using TokenSieve.Checkpoints;
using TokenSieve.Cli;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>The frictions a new user hit in the first hour (issue 17): the help names the command
/// `tokensieve`, one flag vocabulary across verbs with the old names kept, NaN printed as "–",
/// a decoder method given to --reduce named as such, train-lab leaving the shipped model alone.</summary>
[Collection("console")]
public sealed class FirstHourTests
{
    [Fact]
    public void Help_names_the_command_tokensieve()
    {
        var (rc, output, _) = CliCapture.Run("run", "--help");
        Assert.Equal(0, rc);
        Assert.Contains("tokensieve run [options]", output);
        Assert.DoesNotContain("TokenSieve.Cli", output);
    }

    [Fact]
    public void Reduce_takes_the_run_vocabulary_and_the_old_names()
    {
        using var dir = TestData.TempDir();
        string input = dir.File("in.safetensors");
        var features = TestData.Random(16 * 8, seed: 3);
        new SafetensorsWriter().Add("image_features", features, [16, 8]).Write(input);
        Assert.Equal(0, CliApp.Run("reduce", "--reduce", "pool:4", "--input", input, "--out", dir.File("a.safetensors")));
        Assert.Equal(0, CliApp.Run("reduce", "--method", "pool:4", "--in", input, "--out", dir.File("b.safetensors")));
        Assert.Equal(File.ReadAllBytes(dir.File("a.safetensors")), File.ReadAllBytes(dir.File("b.safetensors")));
    }

    [Fact]
    public void A_decoder_method_given_to_reduce_says_use_prune()
    {
        var (rc, _, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"), "--prompt", "q", "--reduce", "fastv:k=2,keep=4");
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("use --prune", err);
        (rc, _, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"), "--prompt", "q", "--prune", "prumerge");
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("use --reduce", err);
        Assert.DoesNotContain("reduction spec", err);
    }

    [Fact]
    public void Missing_numbers_print_as_a_dash()
    {
        Assert.Equal("–", CommonOptions.Number(double.NaN, "F2"));
        Assert.Equal("–", CommonOptions.Flops(double.NaN));
        Assert.Equal("0.50", CommonOptions.Number(0.5, "F2"));
    }

    [Fact]
    public void Train_lab_writes_beside_the_shipped_model_by_default()
    {
        var (rc, output, _) = CliCapture.Run("train-lab", "--help");
        Assert.Equal(0, rc);
        Assert.Contains("lab-model", output);
    }
}
