using TokenSieve.Cli;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>Every failure of the CLI is one `error:` line on stderr and exit code 2: usage mistakes,
/// numeric options out of range, malformed ids — never a stack trace.</summary>
[Collection("console")]
public sealed class CliErrorTests
{
    static void AssertOneErrorLine(string[] args, string expected)
    {
        var (rc, _, err) = CliCapture.Run(args);
        Assert.Equal(CliErrors.InputError, rc);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    static string Image => Path.Combine(TestData.LlavaTiny, "image.png");

    [Fact]
    public void Usage_mistakes_are_one_line_and_exit_2() =>
        AssertOneErrorLine(["run", "--model", TestData.LlavaTiny, "--bogus"], "'--bogus'");

    [Theory]
    [InlineData("--threads", "2147483647", "--threads must be 0..")]
    [InlineData("--threads", "-1", "--threads must be 0..")]
    [InlineData("--max-new-tokens", "-3", "--max-new-tokens must be 0..")]
    [InlineData("--temperature", "NaN", "--temperature must be a number in 0..100")]
    [InlineData("--top-p", "1.5", "--top-p must be a number in 0..1")]
    public void Numeric_options_are_range_checked_before_anything_runs(string option, string value, string expected) =>
        AssertOneErrorLine(["run", "--model", TestData.LlavaTiny, "--image", Image, "--prompt", "q", option, value], expected);

    [Fact]
    public void Inspect_refuses_a_negative_context() =>
        AssertOneErrorLine(["inspect", "--model", TestData.LlavaTiny, "--context", "-5"], "--context must be 1..");

    [Theory]
    [InlineData("1,,250", "item 1 is empty")]
    [InlineData("1,250,-4", "not an integer id")]
    [InlineData(" , ", "is empty")]
    public void Malformed_input_ids_are_refused(string ids, string expected) =>
        AssertOneErrorLine(["dump", "--model", TestData.LlavaTiny, "--image", Image, "--input-ids", ids, "--out", "/tmp/never.safetensors"], expected);

    [Fact]
    public void Space_separated_ids_still_work()
    {
        Assert.Equal([1, 250, 3], TokenSieve.Cli.Commands.DumpCommand.ParseIds(" 1  250 3 "));
        Assert.Equal([1, 250, 3], TokenSieve.Cli.Commands.DumpCommand.ParseIds("1, 250 ,3"));
    }

    [Fact]
    public void Bench_speed_runs_must_be_positive() =>
        AssertOneErrorLine(["bench", "--speed", "--model", TestData.LlavaTiny, "--runs", "0"], "--runs must be 1..1000");

    [Fact]
    public void A_bare_invocation_shows_the_help()
    {
        var (rc, output, _) = CliCapture.Run();
        Assert.Equal(0, rc);
        Assert.Contains("Usage:", output);
    }
}
