using TokenSieve.AI;

namespace TokenSieve.Tests.AI;

/// <summary>The streamed answer: trimmed like the whole answer, cut before a stop sequence even when it
/// arrives split over pieces, and never taking back text already emitted.</summary>
public sealed class AnswerStreamTests
{
    static (string Joined, string Answer, bool Stopped) Feed(string[] pieces, params string[] stops)
    {
        var stream = new AnswerStream(stops);
        string joined = string.Concat(pieces.Select(stream.Push)) + stream.Finish();
        return (joined, stream.Answer, stream.Stopped);
    }

    [Theory]
    [InlineData(new[] { " Hel", "lo ", " wor", "ld!", " " }, new string[0], "Hello  world!", false)]
    [InlineData(new[] { "Hello ", "wor", "ld!" }, new[] { "world" }, "Hello", true)]
    [InlineData(new[] { "Hello w", "ow" }, new[] { "world" }, "Hello wow", false)]
    [InlineData(new[] { "a</", "s", ">b" }, new[] { "</s>", "zz" }, "a", true)]
    [InlineData(new[] { "  ", "\n", "x" }, new string[0], "x", false)]
    [InlineData(new[] { "STOP", "more" }, new[] { "STOP" }, "", true)]
    public void Pieces_join_to_the_trimmed_answer_cut_at_the_first_stop(string[] pieces, string[] stops, string expected, bool stopped)
    {
        var (joined, answer, wasStopped) = Feed(pieces, stops);
        Assert.Equal(expected, joined);
        Assert.Equal(expected, answer);
        Assert.Equal(stopped, wasStopped);
    }
}
