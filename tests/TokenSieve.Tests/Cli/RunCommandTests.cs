using TokenSieve.Cli;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Cli;

[Collection("console")]
public sealed class RunCommandTests
{
    [Fact]
    public void The_committed_fixture_tokenizer_is_what_the_builder_writes()
    {
        var committed = File.ReadAllBytes(Path.Combine(TestData.LlavaTiny, "tokenizer.model"));
        Assert.Equal(SentencePieceModelWriter.Serialize(TinyFixtureTokenizer.Build()), committed);
        var tok = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        Assert.Equal(256, tok.VocabSize);
        Assert.Equal("What is in the image?", tok.Decode(tok.Encode("What is in the image?")));
    }


    [Theory]
    [InlineData("none", "16 of 16")]
    [InlineData("pool:4", "4 of 16")]
    [InlineData("prumerge+", "of 16")]
    [InlineData("tome:r=2", "of 16")]
    public void Run_answers_and_reports_the_visual_tokens(string reduce, string visual)
    {
        var (rc, output, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"),
            "--prompt", "What is in the image?", "--reduce", reduce, "--max-new-tokens", "4", "--threads", "1");
        Assert.True(rc == 0, err);
        Assert.Contains(visual, output);
        Assert.Contains("prefill", output);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_a_clear_error()
    {
        string longPrompt = string.Concat(Enumerable.Repeat("What is in the image? ", 120));
        var (rc, _, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"), "--prompt", longPrompt);
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("longer than the model's context", err);
    }

    [Fact]
    public void An_undecodable_image_is_a_clear_error()
    {
        using var dir = TestData.TempDir();
        File.WriteAllBytes(dir.File("bad.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var (rc, _, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", dir.File("bad.png"), "--prompt", "hi");
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("bad.png", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Theory]
    [InlineData("q4_0")]
    [InlineData("q8_0")]
    public void Quantised_weights_compose_with_a_reduction_and_the_report_states_them(string weights)
    {
        var (rc, output, err) = CliCapture.Run("run", "--model", TestData.LlavaTiny, "--image", Path.Combine(TestData.LlavaTiny, "image.png"),
            "--prompt", "What is in the image?", "--weights", weights, "--reduce", "prumerge+", "--max-new-tokens", "4", "--threads", "2");
        Assert.True(rc == 0, err);
        Assert.Contains($"2, fused, {weights}", output);
        Assert.Contains("of 16", output);
    }

    [Fact]
    public void Quantize_verb_writes_a_folder_run_reads()
    {
        using var dir = TestData.TempDir();
        var (rc, _, err) = CliCapture.Run("quantize", "--model", TestData.LlavaTiny, "--type", "q8_0", "--out", dir.File("q8"));
        Assert.True(rc == 0, err);
        (rc, var output, err) = CliCapture.Run("run", "--model", dir.File("q8"), "--image", Path.Combine(TestData.LlavaTiny, "image.png"),
            "--prompt", "What is in the image?", "--max-new-tokens", "2", "--threads", "1");
        Assert.True(rc == 0, err);
        Assert.Contains("q8_0", output);
        (rc, _, err) = CliCapture.Run("quantize", "--model", TestData.LlavaTiny, "--type", "q5_1", "--out", dir.File("x"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.StartsWith("error:", err);
        Assert.Contains("q5_1", err);
    }
}
