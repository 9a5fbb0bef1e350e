using System.Text;
using TokenSieve.Evaluation;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Readers and exact scorers of RefCOCO/+/g, Visual Haystack, VizWiz, VQAv2 and MMBench-CN on
/// tiny samples in their public release formats (tests/data/eval-samples, written by its
/// make_samples.py), with hand-computed IoU cases and the malformed entries named by file:line.</summary>
public sealed class NewBenchmarkReaderTests
{
    static string Sample(params string[] parts) => TestData.Path(["eval-samples", .. parts]);

    [Theory]
    [InlineData(0, 0, 2, 2, 1, 1, 3, 3, 1.0 / 7)]       // overlap 1, union 4 + 4 − 1
    [InlineData(0, 0, 2, 2, 0, 0, 2, 2, 1.0)]
    [InlineData(0, 0, 2, 2, 2, 0, 4, 2, 0.0)]           // touching edges
    [InlineData(0, 0, 4, 4, 1, 1, 3, 3, 0.25)]          // contained: 4 / 16
    [InlineData(0, 0, 2, 1, 0, 0, 1, 2, 1.0 / 3)]       // crossing: 1 / (2 + 2 − 1)
    public void IoU_matches_hand_computed_cases(double a1, double b1, double c1, double d1, double a2, double b2, double c2, double d2, double expected) =>
        Assert.Equal(expected, new Box(a1, b1, c1, d1).IoU(new Box(a2, b2, c2, d2)), 12);

    [Fact]
    public void Boxes_are_normalised_to_the_padded_square_and_parsed_from_answers()
    {
        // 64x48 image: padded to 64x64 with 8 px above; box x 8..24, y 4..24 → y 12..32.
        var b = GroundingScorer.ToPaddedSquare(8, 4, 16, 20, 64, 48);
        Assert.Equal(new Box(0.125, 12 / 64.0, 0.375, 0.5), b);
        // 40x80: 20 px to the left; box x 0..40, y 40..80.
        Assert.Equal(new Box(0.25, 0.5, 0.75, 1.0), GroundingScorer.ToPaddedSquare(0, 40, 40, 40, 40, 80));
        Assert.Equal(new Box(0.1, 0.2, 0.5, 0.6), GroundingScorer.Parse("[0.1, 0.2, 0.5, 0.6]"));
        Assert.Equal(new Box(0.1, 0.2, 0.5, 0.6), GroundingScorer.Parse("The box is 0.5,0.6,0.1,0.2."));   // reversed corners ordered
        Assert.Null(GroundingScorer.Parse("left side"));
        Assert.Null(GroundingScorer.Parse("[0.1, 0.2, 0.5]"));
        Assert.True(GroundingScorer.IsCorrect("[0.1,0.1,0.5,0.5]", "0.1,0.1,0.5,0.6"));      // IoU 0.16/0.2 = 0.8
        Assert.False(GroundingScorer.IsCorrect("[0.1,0.1,0.3,0.3]", "0.1,0.1,0.5,0.5"));     // 0.04/0.16 = 0.25
    }

    [Theory]
    [InlineData("refcoco", "refcoco/refcoco/refs(unc).p")]
    [InlineData("refcocog", "refcoco/refcocog/refs(umd).p")]
    public void RefCoco_reads_the_refer_release_and_scores_acc_at_half_iou(string task, string refs)
    {
        var ds = BenchmarkDatasets.Load(task, Sample(refs.Split('/')), "/coco/train2014");
        Assert.Equal(TaskKind.Grounding, ds.Kind);
        Assert.Equal(["11", "12", "31"], ds.Items.Select(i => i.QuestionId));
        Assert.Equal("Please provide the bounding box coordinate of the region this sentence describes: man on the left", ds.Items[0].Prompt);
        Assert.Equal("/coco/train2014/COCO_train2014_000000000009.jpg", ds.Items[0].ImagePath);
        Assert.Equal(new Box(0.125, 0.1875, 0.375, 0.5), Box.Parse(ds.Items[0].Answers[0]));
        Assert.Equal(2, ds.Issues.Count);
        Assert.EndsWith(":4: ref lacks ann_id, image_id or sentences", ds.Issues[0].ToString());
        Assert.Contains("annotation 999 is not in instances.json", ds.Issues[1].ToString());
        var testA = BenchmarkDatasets.Load(task, Sample(refs.Split('/')), "", new DatasetOptions { BenchmarkSplit = "testA" });
        Assert.Equal(["21"], testA.Items.Select(i => i.QuestionId));

        var score = Scoring.Score(ds, new Dictionary<string, string>
        {
            ["11"] = "[0.13, 0.19, 0.37, 0.5]",   // near the box
            ["12"] = "I cannot tell",             // parse failure
            ["31"] = "[0.25, 0.0, 0.75, 0.5]",    // the wrong half
        });
        Assert.Equal(100.0 / 3, score.Main, 9);
        Assert.Equal(1, score.Metrics["parse_failures"]);
        Assert.Equal("acc@0.5", score.MainMetric);
    }

    [Fact]
    public void Pickles_are_read_without_constructing_objects()
    {
        // Python 2's text protocol with S'…' strings, as refer's original files were written.
        byte[] py2 = Encoding.Latin1.GetBytes("(lp0\n(dp1\nS'sent'\np2\nS'man\\'s hat'\np3\nsS'sent_id'\np4\nI7\nsaI-3\naF0.5\nag2\na.");
        var list = Assert.IsType<List<object?>>(PickleReader.Load(py2, "py2.p"));
        var d = Assert.IsType<Dictionary<object, object?>>(list[0]);
        Assert.Equal("man's hat", d["sent"]);
        Assert.Equal(7L, d["sent_id"]);
        Assert.Equal(-3L, list[1]);
        Assert.Equal(0.5, list[2]);
        Assert.Equal("sent", list[3]);
        // A pickle that would call a function (os.system) is refused, not run.
        byte[] evil = Encoding.Latin1.GetBytes("cos\nsystem\n(S'echo hi'\ntR.");
        Assert.Contains("constructs objects or calls code", Assert.Throws<DatasetException>(() => PickleReader.Load(evil, "evil.p")).Message);
        Assert.Contains("truncated", Assert.Throws<DatasetException>(() => PickleReader.Load(py2[..20], "cut.p")).Message);
    }

    [Fact]
    public void Visual_haystack_items_carry_every_image_in_a_fixed_shuffled_order()
    {
        var ds = BenchmarkDatasets.Load("visual_haystack", Sample("visual_haystack"), Sample("visual_haystack", "coco"));
        Assert.Equal(TaskKind.YesNo, ds.Kind);
        Assert.Equal(3, ds.Items.Count);
        Assert.Single(ds.Issues);
        Assert.Contains("visual_haystack_2.json:3", ds.Issues[0].ToString());
        var multi = ds.Items.Single(i => i.Category == "3 images");
        Assert.Equal(3, multi.ImagePaths.Count);
        Assert.Equal("no", multi.Answers[0]);
        Assert.DoesNotContain("<image>", multi.Prompt);
        // The same order on every read.
        var again = BenchmarkDatasets.Load("visual_haystack", Sample("visual_haystack"), Sample("visual_haystack", "coco"));
        Assert.Equal(ds.Items.Select(i => string.Join("|", i.ImagePaths)), again.Items.Select(i => string.Join("|", i.ImagePaths)));
        var score = Scoring.Score(ds, ds.Items.ToDictionary(i => i.QuestionId, i => i.Category == "2 images" ? "Yes" : "No"));
        Assert.Equal(100 * 2.0 / 3, score.Main, 9);   // one 2-image item is a "no"
        Assert.Equal(100, score.Metrics["category/3 images"]);
    }

    [Fact]
    public void Vizwiz_and_vqav2_score_vqa_accuracy()
    {
        var viz = BenchmarkDatasets.Load("vizwiz", Sample("vizwiz", "val.json"), "/vizwiz/val");
        Assert.Equal(["VizWiz_val_00000000", "VizWiz_val_00000001"], viz.Items.Select(i => i.QuestionId));
        Assert.Contains("respond with 'Unanswerable'", viz.Items[0].Prompt);
        Assert.Contains("val.json:3", viz.Issues.Single().ToString());
        var s = Scoring.Score(viz, new Dictionary<string, string> { ["VizWiz_val_00000000"] = "Soup", ["VizWiz_val_00000001"] = "Unanswerable" });
        Assert.Equal(100, s.Main, 9);
        // "can" was said by 1 of 10: each leave-one-out subset keeps it once (9 of 10) or not (1 of 10): 0.9 · 1/3.
        Assert.Equal(100 * (0.9 / 3 + 1) / 2, Scoring.Score(viz, new Dictionary<string, string> { ["VizWiz_val_00000000"] = "can", ["VizWiz_val_00000001"] = "unanswerable" }).Main, 6);

        var vqa = BenchmarkDatasets.Load("vqav2", Sample("vqav2"), "/coco/val2014");
        Assert.Equal(["42000", "42001"], vqa.Items.Select(i => i.QuestionId));
        Assert.Equal("/coco/val2014/COCO_val2014_000000000042.jpg", vqa.Items[0].ImagePath);
        Assert.Equal(2, vqa.Issues.Count);
        Assert.Equal(TaskKind.Vqa, vqa.Kind);
        Assert.Equal(100, Scoring.Score(vqa, new Dictionary<string, string> { ["42000"] = "2", ["42001"] = "Yes" }).Main, 9);
    }

    [Fact]
    public void Mmbench_cn_reads_the_chinese_tsv_with_its_letter_prompt()
    {
        var ds = BenchmarkDatasets.Load("mmbench_cn", Sample("mmbench_cn", "mmbench_dev_cn_20231003.tsv"), null);
        Assert.Equal("mmbench_cn", ds.Task);
        Assert.Equal(3, ds.Items.Count);
        Assert.EndsWith("请直接回答选项字母。", ds.Items[0].Prompt);
        Assert.Contains("A. 猫", ds.Items[0].Prompt);
        Assert.Contains("mmbench_dev_cn_20231003.tsv:5", ds.Issues.Single().ToString());
        // CircularEval: both rotations of question 0 must be right.
        var score = Scoring.Score(ds, new Dictionary<string, string> { ["0"] = "B", ["1000000"] = "A", ["1"] = "B" });
        Assert.Equal(50, score.Main, 9);
    }
}
