using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using Xunit.Abstractions;

namespace TokenSieve.Tests.Models;

/// <summary>Golden parity of LLaVA-NeXT (anyres) and Video-LLaVA against transformers 4.45.1
/// (fixtures/llava-next-tiny, fixtures/video-llava-tiny): the `dump` tensors under the fixture's names,
/// for the fixture's inputs, F32 weights and the F16/BF16 weight files. Tolerance 1e-4 of each tensor's
/// max magnitude (at least 1): the fixtures' independent float64 recomputations agree with the
/// references to 4.9e-6 (packed features) and 2.3e-5 (logits), and fp32 summation order differs
/// between engines; pixel values are exact up to float rounding of the normalisation (1e-6).</summary>
public sealed class LlavaFamilyParityTests(ITestOutputHelper output)
{
    const double Tol = 1e-4;

    static string Next => TestData.Path("llava-next-tiny");
    static string Video => TestData.Path("video-llava-tiny");

    static Dictionary<string, (float[] Values, int[] Shape)> Dump(string folder, string? weights, int[] ids, string[] images, string? frames)
    {
        using var model = LlavaModel.Load(folder, new ModelLoadOptions { WeightsFile = weights });
        var pipeline = new LlavaPipeline(model, new ComputeContext(2));
        var slots = pipeline.FindSlots(ids);
        int ni = 0;
        var visuals = slots.Select(s => s.Kind == VisualKind.Video
            ? pipeline.PrepareVideo(VideoFrames.Load(frames!))
            : pipeline.Prepare(ImageDecoder.Load(Path.Combine(folder, images[ni++])), AspectMode.Crop)).ToList();
        return ParityDump.Run(pipeline, visuals, ids, slots.Select(s => s.Position).ToList(), 8);
    }

    void Check(Golden golden, Dictionary<string, (float[] Values, int[] Shape)> dump, string prefix, string goldenName, string? dumpName = null)
    {
        dumpName ??= goldenName;
        Assert.True(dump.ContainsKey(dumpName), $"dump has no '{dumpName}'");
        var (values, shape) = dump[dumpName];
        Assert.Equal(golden.Shape(prefix + goldenName), shape);
        var expected = golden.Tensor(prefix + goldenName);
        double scale = Math.Max(1, expected.Max(Math.Abs));
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - values[i]));
        output.WriteLine($"{prefix}{goldenName}: max |diff| {worst:0.0e+0}, {worst / scale:0.0e+0} of max(1, max|ref|) = {scale:g3}");
        Assert.True(worst <= Tol * scale, $"{dumpName}: max |diff| {worst:g3} > {Tol} x {scale:g3}");
    }

    [Fact]
    public void LlavaNext_two_images_match_every_stage_and_the_greedy_ids()
    {
        using var golden = new Golden(Next);
        var ids = golden.Ints("input_ids");
        var dump = Dump(Next, null, ids, ["image0.png", "image1.png"], null);
        foreach (var name in new[]
        {
            "preprocess.pixel_values", "preprocess.image_sizes", "preprocess.image0.best_resolution", "preprocess.image1.best_resolution",
            "vision.hidden_states.0", "vision.hidden_states.1", "vision.hidden_states.2", "image_features.selected", "projector.linear_1", "projector.output",
            "image_features.grid.image0", "image_features.grid.image1", "image_features.unpadded_grid.image0", "image_features.unpadded_grid.image1",
            "image_features.packed.image0", "image_features.packed.image1", "image_features.packed", "image_newline",
            "llm.inputs_embeds", "llm.position_ids", "llm.hidden_states.1", "llm.hidden_states.2", "llm.logits", "generate.step_logits",
        })
            Check(golden, dump, "", name);
        Assert.Equal(golden.Ints("generated_ids"), dump["generated_ids"].Values.Select(v => (int)v).ToArray());
        Assert.Equal(golden.Json.GetProperty("merged_sequence_length").GetInt32(), dump["llm.logits"].Shape[1]);
    }

    [Theory]
    [InlineData("model.f16.safetensors", "f16w.llm.logits")]
    [InlineData("model.bf16.safetensors", "bf16w.llm.logits")]
    public void LlavaNext_half_precision_weight_files_match_their_logits(string weights, string name)
    {
        using var golden = new Golden(Next);
        var dump = Dump(Next, weights, golden.Ints("input_ids"), ["image0.png", "image1.png"], null);
        Check(golden, dump, "", name, "llm.logits");
    }

    [Theory]
    [InlineData("image")]
    [InlineData("video")]
    public void VideoLlava_cases_match_every_stage_and_the_greedy_ids(string @case)
    {
        using var golden = new Golden(Video);
        var c = golden.Json.GetProperty("cases").GetProperty(@case);
        var ids = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var dump = Dump(Video, null, ids, ["image.png"], Path.Combine(Video, "frames"));
        string prefix = @case + ".";
        foreach (var name in new[]
        {
            "preprocess.pixel_values", "vision.hidden_states.0", "vision.hidden_states.1", "vision.hidden_states.2", "image_features.selected",
            "projector.linear_1", "projector.output", "llm.inputs_embeds", "llm.position_ids", "llm.hidden_states.1", "llm.hidden_states.2",
            "llm.logits", "generate.step_logits",
        })
            Check(golden, dump, prefix, name);
        Assert.Equal(c.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()), dump["generated_ids"].Values.Select(v => (int)v));
    }

    [Theory]
    [InlineData("image", "model.f16.safetensors", "f16w.llm.logits")]
    [InlineData("video", "model.bf16.safetensors", "bf16w.llm.logits")]
    [InlineData("image", "model.bf16.safetensors", "bf16w.llm.logits")]
    [InlineData("video", "model.f16.safetensors", "f16w.llm.logits")]
    public void VideoLlava_half_precision_weight_files_match_their_logits(string @case, string weights, string name)
    {
        using var golden = new Golden(Video);
        var ids = golden.Json.GetProperty("cases").GetProperty(@case).GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var dump = Dump(Video, weights, ids, ["image.png"], Path.Combine(Video, "frames"));
        Check(golden, dump, @case + ".", name, "llm.logits");
    }

    [Fact]
    public void Anyres_arithmetic_matches_the_reference_table()
    {
        using var golden = new Golden(Next);
        var pinpoints = golden.Json.GetProperty("config").GetProperty("image_grid_pinpoints").EnumerateArray()
            .Select(p => (p[0].GetInt32(), p[1].GetInt32())).ToList();
        int rows = 0;
        foreach (var row in golden.Json.GetProperty("anyres_table").EnumerateArray())
        {
            int[] Pair(string key) => row.GetProperty(key).EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var hw = Pair("image_hw");
            var plan = AnyRes.Plan(hw[0], hw[1], pinpoints, 56, 4);
            string at = $"image {hw[0]}x{hw[1]}";
            Assert.True(Pair("best_resolution_hw").SequenceEqual([plan.Best.Height, plan.Best.Width]), at + " best");
            Assert.True(Pair("resized_hw").SequenceEqual([plan.Resized.Height, plan.Resized.Width]), at + " resized");
            Assert.True(Pair("padded_hw").SequenceEqual([plan.Padded.Height, plan.Padded.Width]), at + " padded");
            Assert.True(Pair("tile_grid_hw").SequenceEqual([plan.Tiles.Rows, plan.Tiles.Cols]), at + " tiles");
            Assert.True(Pair("feature_grid_hw").SequenceEqual([plan.FeatureGrid.Height, plan.FeatureGrid.Width]), at + " grid");
            Assert.True(Pair("unpadded_grid_hw").SequenceEqual([plan.Unpadded.Rows, plan.Unpadded.Cols]), at + " unpadded");
            Assert.Equal(row.GetProperty("num_tiles_incl_base").GetInt32(), plan.TileCount);
            Assert.Equal(row.GetProperty("feature_len").GetInt32(), AnyRes.FeatureLength(hw[0], hw[1], pinpoints, 56, 4));
            rows++;
        }
        Assert.Equal(28, rows);
    }
}
