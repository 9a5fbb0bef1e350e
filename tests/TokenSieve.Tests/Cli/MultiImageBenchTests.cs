using TokenSieve.Evaluation;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>Multi-image items run through the same runner: Visual Haystack's sample with the tiny
/// model, every image of an item in its prompt (the visual token count says so), per image budgets.</summary>
[Collection("console")]
public sealed class MultiImageBenchTests
{
    [Fact]
    public void Visual_haystack_sweeps_with_every_image_in_the_prompt()
    {
        using var dir = TestData.TempDir();
        string sample = TestData.Path("eval-samples", "visual_haystack");
        string results = dir.File("vhs.jsonl");
        var (rc, output, err) = CliCapture.Run("bench", "--model", TestData.LlavaTiny, "--task", "visual_haystack", "--data", sample,
            "--images", Path.Combine(sample, "coco"), "--methods", "none;random", "--budgets", "4", "--out", results, "--max-new-tokens", "2", "--threads", "1");
        Assert.True(rc == 0, err + output);
        var records = ResultsFile.Read(results, []);
        Assert.Equal(6, records.Count);
        int patches = 16;
        foreach (var r in records)
        {
            int images = r.QuestionId.Contains("multi_needle") ? 3 : 2;
            Assert.Equal(r.Spec == "none" ? images * patches : images * 4, r.VisualTokens);
        }
        Assert.Contains("visual_haystack", output);
    }
}
