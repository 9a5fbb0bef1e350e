using System.Text.Json;
using TokenSieve.Evaluation;
using TokenSieve.Methods;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

[Collection("console")]
public sealed class RethinkTests
{
    [Fact]
    public void The_plan_runs_every_method_of_the_protocol_at_every_budget()
    {
        var plan = RethinkPlan.For(24, 24, 32, new RethinkOptions { Budgets = [64, 192] });
        Assert.Contains("none", plan.Specs);
        foreach (int b in new[] { 64, 192 })
            foreach (var spec in new[] { $"random:{b}", $"pool:{b}", $"fastv:k=2,keep={b}", $"fastv:k=2,keep={b},query=last-visual", $"fastervlm:{b}", $"divprune:{b}", $"dart:k=2,keep={b}", $"sparsevlm:{b}" })
                Assert.Contains(spec, plan.Specs);
        Assert.Contains("fastv:k=2,keep=64,window=3", plan.Specs); // 8x8 windows of 3x3 patches: 64 windows, quota 1
        Assert.Contains("fastv:k=2,keep=192,window=2", plan.Specs);
        Assert.Equal(["prumerge", "prumerge+"], plan.Specs.TakeLast(2));
        Assert.Equal(192, plan.AlphaBudget); // closest to a quarter of 576 (the paper's 144)
        Assert.Equal(9, plan.AlphaSpecs.Count);
        // a shallow decoder leaves out SparseVLM (layers 2/6/15) and prunes at K = 1 on 2 layers
        var shallow = RethinkPlan.For(4, 4, 2, new RethinkOptions { Budgets = [4] });
        Assert.DoesNotContain(shallow.Specs, s => s.StartsWith("sparsevlm", StringComparison.Ordinal));
        Assert.Contains("fastv:k=1,keep=4", shallow.Specs);
        Assert.All(shallow.Specs.Concat(shallow.AlphaSpecs), s => MethodPlan.Parse(s));
        Assert.Throws<InvalidInputException>(() => RethinkPlan.For(4, 4, 2, new RethinkOptions { Budgets = [16] }));
    }

    [Fact]
    public void F7_counts_only_pairs_whose_flops_differ()
    {
        // pairs with different FLOPs: (0,2) discordant, (0,3) concordant, (1,2) discordant, (1,3), (2,3) concordant -> 2/5
        Assert.Equal(0.4, Findings.DiscordantShare([1, 1, 2, 3], [5, 6, 4, 7]), 12);
        // equal FLOPs with different times (random vs pool at one budget) are no disagreement
        Assert.Equal(0.0, Findings.DiscordantShare([1, 1, 2], [5, 9, 10]), 12);
        Assert.Equal(0.5, Findings.DiscordantShare([1, 2], [3, 3]), 12); // a tie in time counts half
        Assert.True(double.IsNaN(Findings.DiscordantShare([2, 2, 2], [1, 2, 3])));
    }

    [Fact]
    public void Rethink_on_multi_image_data_leaves_out_the_single_image_methods_instead_of_stopping()
    {
        using var dir = new TempDir();
        string sample = TestData.Path("eval-samples", "visual_haystack");
        var (code, output, err) = CliCapture.Run("rethink", "--model", TestData.LlavaTiny, "--task", "visual_haystack", "--data", sample,
            "--images", Path.Combine(sample, "coco"), "--budgets", "4", "--alphas", "0,1", "--speed-runs", "1", "--no-multi-turn",
            "--max-new-tokens", "2", "--threads", "1", "--out", dir.Path);
        Assert.True(code == 0, err + output);
        Assert.Contains("leaving out dart:", output);
        var specs = ResultsFile.Read(dir.File("results.jsonl"), []).Select(r => r.Spec).Distinct().ToList();
        Assert.Contains("fastv:k=1,keep=4", specs);
        Assert.DoesNotContain(specs, s => s?.StartsWith("dart", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Window_side_is_the_smallest_that_fits_the_budget() =>
        Assert.Equal([1, 2, 2, 4, 8], new[] { 64, 16, 20, 4, 1 }.Select(b => RethinkPlan.WindowFor(8, 8, b)));

    [Fact]
    public void Rethink_on_the_lab_model_writes_the_findings_with_the_issue_schema()
    {
        using var dir = new TempDir();
        var (code, output, err) = CliCapture.Run("rethink", "--suite", "lab", "--per-suite", "2", "--families", "counting,reading", "--budgets", "16",
            "--alphas", "0,1", "--speed-runs", "1", "--out", dir.Path);
        Assert.True(code == 0, err + output);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("findings.json")));
        var root = doc.RootElement;
        Assert.Equal("lab", root.GetProperty("model").GetString());
        Assert.Equal(4, root.GetProperty("items").GetInt32());
        var findings = root.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"], findings.Select(f => f.GetProperty("id").GetString()));
        foreach (var f in findings)
        {
            Assert.Contains(f.GetProperty("verdict").GetString(), new[] { "confirmed", "refuted", "inconclusive", "not-applicable" });
            Assert.Equal(2, f.GetProperty("ci95").GetArrayLength());
            Assert.False(string.IsNullOrWhiteSpace(f.GetProperty("evidence").GetString()));
        }
        Assert.Equal("not-applicable", findings[3].GetProperty("verdict").GetString()); // no grounding task in these families
        foreach (var file in new[] { "findings.md", "report.md", "report.html", "analysis.md", "results.jsonl" }) Assert.True(File.Exists(dir.File(file)), file);
    }
}
