using System.Text.Json;
using TokenSieve.Checkpoints;
using TokenSieve.Cli;
using TokenSieve.Tests.Models;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Cli;

/// <summary>The verbs on a Qwen2-VL folder (model_type qwen2_vl is detected from config.json): `dump` writes the
/// fixture's names for its inputs (tolerance as in <see cref="Qwen2VlTinyParityTests"/>: 1e-4 of
/// max(1, max|ref|), ids exact), `run` answers through the chat template, `inspect` describes it, and bad
/// input is one `error:` line with exit code 2.</summary>
[Collection("console")]
public sealed class Qwen2VlCommandTests
{
    static string Fixture => Qwen2VlTiny.Fixture;

    static int[] InputIds(string golden) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixture, golden + ".json"))).RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    [Theory]
    [InlineData("golden", new[] { "image.png" }, null)]
    [InlineData("golden.two_images", new[] { "image_a.png", "image_b.png" }, null)]
    [InlineData("golden.two_images", new[] { "image_a.png", "image_b.png" }, "model.bf16.safetensors")]
    public void Dump_writes_the_fixture_tensors_under_their_names(string golden, string[] images, string? weights)
    {
        using var dir = TestData.TempDir();
        var args = new List<string> { "dump", "--model", Fixture, "--input-ids", string.Join(",", InputIds(golden)), "--out", dir.File("d.safetensors"), "--max-new-tokens", "8" };
        foreach (var image in images) args.AddRange(["--image", Path.Combine(Fixture, image)]);
        if (weights is not null) args.AddRange(["--weights", weights]);
        var (rc, _, err) = CliCapture.Run([.. args]);
        Assert.True(rc == 0, err);
        using var dump = SafetensorsFile.Open(dir.File("d.safetensors"));
        using var reference = SafetensorsFile.Open(Path.Combine(Fixture, golden + ".safetensors"));
        // An F32 dump is checked against every F32 golden, the BF16-weights dump against bf16w.llm.logits.
        var names = weights is null ? reference.Names.Where(n => !n.StartsWith("f16w.") && !n.StartsWith("bf16w.")) : ["bf16w.llm.logits"];
        foreach (var name in names)
        {
            string dumped = weights is null ? name : "llm.logits";
            Assert.Equal(reference.Get(name).Shape, dump.Get(dumped).Shape);
            double error = Qwen2VlTinyParityTests.Error(reference.Get(name).ToFloats(), dump.Get(dumped).ToFloats());
            Assert.True(error <= (name.EndsWith("pixel_values") ? 1e-6 : 1e-4), $"{name}: {error:g3} of max(1, max|ref|)");
        }
        var goldenIds = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixture, golden + ".json"))).RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32());
        Assert.Equal(goldenIds, dump.Get("generated_ids").ToFloats().Select(x => (int)x));
    }

    [Fact]
    public void Run_answers_through_the_chat_template_and_reports_merged_and_pre_merger_counts()
    {
        using var dir = TestData.TempDir();
        string model = Qwen2VlTiny.RunnableCopy(dir);
        var (rc, output, err) = CliCapture.Run("run", "--model", model, "--image", Path.Combine(model, "image_a.png"), "--image", Path.Combine(model, "image_b.png"),
            "--prompt", "What differs?", "--max-new-tokens", "4", "--reduce", "pool:4", "--prune", "fastv:k=1,keep=2");
        Assert.True(rc == 0, err);
        Assert.Contains("visual tokens", output);
        Assert.Contains("8 of 21", output);           // pool:4 per image; 15 + 6 merged tokens unreduced
        Assert.Contains("84 patches before", output); // 60 + 24 patches before the 2x2 merge
    }

    [Fact]
    public void Inspect_describes_the_folder()
    {
        var (rc, output, err) = CliCapture.Run("inspect", "--model", Fixture);
        Assert.True(rc == 0, err);
        Assert.Contains("qwen2_vl", output);
        Assert.Contains("[2, 3, 3]", output);
        Assert.Contains("182,656", output);  // the fixture's parameter count (golden.json weights.n_params)
    }

    [Theory]
    [InlineData("tiny.png", 20, 40, "smaller than 28")]
    [InlineData("thin.png", 28, 1000, "below min_pixels")]
    public void An_image_the_resize_rules_refuse_is_one_error_line(string file, int width, int height, string message)
    {
        using var dir = TestData.TempDir();
        new TokenSieve.Imaging.RgbImage(width, height).SavePng(dir.File(file));
        var (rc, _, err) = CliCapture.Run("dump", "--model", Fixture, "--image", dir.File(file), "--input-ids", "301,309,312,310", "--out", dir.File("d.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains(message, err);
        Assert.Contains(file, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error:", err);
    }

    [Fact]
    public void A_prompt_that_overflows_the_context_is_one_error_line()
    {
        using var dir = TestData.TempDir();
        // 2048 positions: an image of 8 merged tokens inside 2100 ids.
        var ids = Enumerable.Repeat(5, 2090).Concat([309, .. Enumerable.Repeat(312, 8), 310]).ToArray();
        var (rc, _, err) = CliCapture.Run("dump", "--model", Fixture, "--image", Path.Combine(Fixture, "image.png"), "--input-ids", string.Join(",", ids), "--out", dir.File("d.safetensors"));
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("longer than the model's context of 2048", err);
    }

    [Theory]
    [InlineData("prumerge+", "cannot run on Qwen2-VL")]
    [InlineData("visionzip:6+2", "cannot run on Qwen2-VL")]
    [InlineData("tome:keep=4", "cannot run on Qwen2-VL")]
    [InlineData("random:99", "outside 1..15")]
    public void A_method_that_cannot_apply_is_one_error_line(string reduce, string message)
    {
        using var dir = TestData.TempDir();
        string model = Qwen2VlTiny.RunnableCopy(dir);
        var (rc, _, err) = CliCapture.Run("run", "--model", model, "--image", Path.Combine(model, "image_a.png"), "--prompt", "Hi", "--reduce", reduce, "--max-new-tokens", "1");
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains(message, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Bench_speed_runs_on_a_qwen2_vl_folder_and_states_the_pre_merger_count()
    {
        using var dir = TestData.TempDir();
        var (rc, output, err) = CliCapture.Run("bench", "--speed", "--model", Fixture, "--methods", "pool;fastv:k=1,keep={budget}", "--budgets", "4",
            "--runs", "1", "--image-size", "56", "--text-tokens", "8", "--decode-tokens", "1", "--threads", "1", "--md", dir.File("speed.md"));
        Assert.True(rc == 0, err);
        Assert.Contains("16 patches -> 4 visual tokens after the 2x2 merge", output);
        Assert.Contains("`pool:4`", output);
        Assert.Contains("`fastv:k=1,keep=4`", File.ReadAllText(dir.File("speed.md")));
    }

    [Fact]
    public void Bench_sweeps_a_dataset_on_a_qwen2_vl_folder()
    {
        using var dir = TestData.TempDir();
        string model = Qwen2VlTiny.RunnableCopy(dir);
        string images = Path.Combine(dir.Path, "pope-images");
        Directory.CreateDirectory(images);
        var lines = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            var img = new TokenSieve.Imaging.RgbImage(60 + 10 * i, 40 + 30 * i);
            for (int p = 0; p < img.Pixels.Length; p++) img.Pixels[p] = (byte)((p * (i + 3)) % 251);
            img.SavePng(Path.Combine(images, $"img{i}.png"));
            lines.Add($"{{\"question_id\": {i}, \"image\": \"img{i}.png\", \"text\": \"Is there a dog in the image?\", \"label\": \"no\"}}");
        }
        string ann = Path.Combine(dir.Path, "pope", "coco_pope_random.json");
        Directory.CreateDirectory(Path.GetDirectoryName(ann)!);
        File.WriteAllLines(ann, lines);
        var (rc, output, err) = CliCapture.Run("bench", "--model", model, "--task", "pope", "--data", ann, "--images", images, "--methods", "none;pool;fastv:k=1,keep={budget}",
            "--budgets", "2", "--out", dir.File("r.jsonl"), "--max-new-tokens", "2", "--threads", "1");
        Assert.True(rc == 0, err);
        Assert.Contains("6 answered", output);
        Assert.Equal(6, File.ReadAllLines(dir.File("r.jsonl")).Length);
    }

    [Fact]
    public void An_unknown_model_type_names_the_supported_ones()
    {
        using var dir = TestData.TempDir();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "qwen2_5_vl"}""");
        var (rc, _, err) = CliCapture.Run("inspect", "--model", dir.Path);
        Assert.Equal(CliErrors.InputError, rc);
        Assert.Contains("'qwen2_5_vl' is not a supported model type (llava, llava_next, video_llava, qwen2_vl)", err);
    }
}
