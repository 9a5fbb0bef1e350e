using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Pruning;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Pipeline;

/// <summary>LLaVA-NeXT and Video-LLaVA on shapes other than the fixtures' (tile 28, 2x2 patches per
/// tile, other pinpoints, GQA; a 3-frame video on a 3x3-patch tower): the packed tokens equal a naive
/// recomputation written here from transformers' code (tiles through the tower and projector one by
/// one, arranged, unpadded, a newline per row), and the methods apply per view with the budget rules.</summary>
public sealed class LlavaVariantTests : IDisposable
{
    readonly TempDir _dir = TestData.TempDir();

    public void Dispose() => _dir.Dispose();

    static readonly ClipVisionConfig Tower28 = new(32, 64, 3, 4, 3, 28, 14, "quick_gelu", 1e-5f);
    static readonly ClipVisionConfig Tower42 = new(32, 64, 3, 4, 3, 42, 14, "quick_gelu", 1e-5f);
    static readonly LlamaConfig Text = new(128, 48, 96, 3, 4, 2, "silu", 1024, 1e-5f, 10000f, 1, 2, false);

    string Write(string name, LlavaConfig config)
    {
        string dir = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), LlavaConfigWriter.ToJson(config));
        File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), LlavaConfigWriter.PreprocessorJson(config));
        var rng = new Random(name.Length * 7919);
        var w = new SafetensorsWriter();
        foreach (var t in LlavaSchema.Tensors(config))
        {
            int n = (int)t.Count;
            float[] values = t.Kind switch
            {
                TensorKind.NormWeight => RandomLlava.Normal(rng, n, 0.1).Select(x => 1 + x).ToArray(),
                TensorKind.NormBias or TensorKind.Bias => RandomLlava.Normal(rng, n, 0.05),
                _ => RandomLlava.Normal(rng, n, 1.0 / Math.Sqrt(Math.Max(1, t.FanIn))),
            };
            w.Add(t.Name, values, t.Shape);
        }
        w.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    string Next() => Write("next", LlavaConfigWriter.Create(Tower28, Text, 120, 127) with
    {
        Variant = LlavaVariant.LlavaNext, ImageGridPinpoints = [(28, 84), (84, 28), (56, 56), (28, 28), (56, 84)],
    });

    string Video() => Write("video", LlavaConfigWriter.Create(Tower42, Text, 120, 127) with { Variant = LlavaVariant.VideoLlava, VideoTokenIndex = 121 });

    static RgbImage Picture(int w, int h, int seed)
    {
        var im = new RgbImage(w, h);
        new Random(seed).NextBytes(im.Pixels);
        return im;
    }

    /// <summary>transformers 4.45.1 pack_image_features + unpad_image, written out naively.</summary>
    static float[] NaivePacked(LlavaModel m, IReadOnlyList<float[]> tiles, int height, int width, (int H, int W) best)
    {
        var cfg = m.Config;
        int g = cfg.Vision.GridSize, d = cfg.Text.HiddenSize, s = cfg.Vision.ImageSize;
        var ctx = ComputeContext.SingleThread;
        var projected = tiles.Select(t =>
        {
            var v = m.Vision.Forward(ctx, t);
            return m.Projector.Forward(ctx, v.PatchFeatures.ToArray(), g * g);
        }).ToList();
        int rowsOfTiles = best.H / s, colsOfTiles = best.W / s;
        int gh = rowsOfTiles * g, gw = colsOfTiles * g;
        var grid = new float[gh, gw][];
        for (int tr = 0; tr < rowsOfTiles; tr++)
        for (int tc = 0; tc < colsOfTiles; tc++)
        for (int i = 0; i < g; i++)
        for (int j = 0; j < g; j++)
            grid[tr * g + i, tc * g + j] = projected[1 + tr * colsOfTiles + tc].AsSpan((i * g + j) * d, d).ToArray();
        int r0 = 0, r1 = gh, c0 = 0, c1 = gw;
        if ((double)width / height > (double)gw / gh)
        {
            int newHeight = (int)(height * ((double)gw / width));
            int pad = (gh - newHeight) / 2;
            (r0, r1) = (pad, gh - pad);
        }
        else
        {
            int newWidth = (int)(width * ((double)gh / height));
            int pad = (gw - newWidth) / 2;
            (c0, c1) = (pad, gw - pad);
        }
        var rows = new List<float>(projected[0]);
        for (int r = r0; r < r1; r++)
        {
            for (int c = c0; c < c1; c++) rows.AddRange(grid[r, c]);
            rows.AddRange(m.ImageNewline!);
        }
        return rows.ToArray();
    }

    [Theory]
    [InlineData(30, 100)]
    [InlineData(100, 30)]
    [InlineData(57, 57)]
    [InlineData(10, 10)]
    [InlineData(61, 97)]
    public void LlavaNext_packing_equals_a_naive_recomputation_on_another_shape(int width, int height)
    {
        using var m = LlavaModel.Load(Next());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        var prepared = pipeline.Prepare(Picture(width, height, width * 31 + height), AspectMode.Crop);
        var plan = prepared.AnyRes!;
        Assert.Equal(plan.TileCount, prepared.Views.Count);
        var tokens = pipeline.Encode(prepared, null, 0);
        var expected = NaivePacked(m, prepared.Views, height, width, plan.Best);
        Assert.Equal(AnyRes.FeatureLength(height, width, m.Config.ImageGridPinpoints, 28, 2), tokens.Count);
        Assert.Equal(expected.Length, tokens.Count * m.Config.Text.HiddenSize);
        Compare.Relative(expected, tokens.Tokens.AsSpan(0, expected.Length), 1e-5, "packed");
        Assert.Equal(plan.TileCount, tokens.Layout.Grids.Count);
        Assert.Equal(plan.Unpadded.Rows, tokens.Sources.Count(p => p.Patches.Length == 0));
    }

    [Fact]
    public void Video_frames_are_encoded_one_by_one_with_their_cls_rows()
    {
        using var m = LlavaModel.Load(Video());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        var frames = Enumerable.Range(0, 3).Select(i => Picture(50, 44, i)).ToList();
        var prepared = pipeline.PrepareVideo(frames);
        var tokens = pipeline.Encode(prepared, null, 0);
        int rows = m.Config.VideoTokensPerFrame, d = m.Config.Text.HiddenSize, c = m.Config.Vision.HiddenSize;
        Assert.Equal(3 * rows, tokens.Count);
        for (int f = 0; f < 3; f++)
        {
            var v = m.VideoVision!.Forward(ComputeContext.SingleThread, prepared.Views[f]);
            var expected = m.Projector.Forward(ComputeContext.SingleThread, v.FeatureHidden.AsSpan(0, rows * c).ToArray(), rows);
            Compare.Relative(expected, tokens.Tokens.AsSpan(f * rows * d, rows * d), 1e-6, $"frame {f}");
            Assert.True(tokens.Sources[f * rows].IsClassToken);
        }
        // The image tower is a different tower: an image gets patches only, from other weights.
        var image = pipeline.Encode(pipeline.Prepare(frames[0], AspectMode.Crop), null, 0);
        Assert.Equal(m.Config.Vision.NumPatches, image.Count);
    }

    [Fact]
    public void Vision_budgets_apply_per_view_or_per_input()
    {
        using var m = LlavaModel.Load(Next());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        var prepared = pipeline.Prepare(Picture(80, 80, 3), AspectMode.Crop);   // best 56x56: base + 2x2 tiles
        Assert.Equal(5, prepared.Views.Count);
        var perView = pipeline.Encode(prepared, MethodCatalog.ParseVision("random:2"), 1, VisionBudgetScope.PerView);
        int kept = perView.Sources.Count(p => p.Patches.Length > 0);
        Assert.Equal(10, kept);   // nothing of an 80x80 image is padding on a square grid
        int newlines = perView.Count - kept;
        Assert.InRange(newlines, 1, prepared.AnyRes!.Unpadded.Rows);
        var perInput = pipeline.Encode(prepared, MethodCatalog.ParseVision("random:7"), 1, VisionBudgetScope.PerInput);
        Assert.Equal(7, perInput.Sources.Count(p => p.Patches.Length > 0));  // 2 + 2 + 1 + 1 + 1
        // Every kept grid token sits in its own tile's grid, inside the tile.
        foreach (var cell in perInput.Layout.Tokens.Where(c => !c.IsNone))
            Assert.InRange(cell.Grid, 0, 4);
        // Adaptive methods scale with the views by themselves; a budget too small to split is refused.
        Assert.Throws<MethodSpecException>(() => pipeline.Encode(prepared, MethodCatalog.ParseVision("random:3"), 1, VisionBudgetScope.PerInput));
    }

    [Fact]
    public void Reduced_video_frames_keep_their_cls_row_in_front()
    {
        using var m = LlavaModel.Load(Video());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        var prepared = pipeline.PrepareVideo(Enumerable.Range(0, 4).Select(i => Picture(42, 42, 10 + i)).ToList());
        var tokens = pipeline.Encode(prepared, MethodCatalog.ParseVision("prumerge:keep=3"), 0);
        Assert.Equal(4 * 4, tokens.Count);
        for (int f = 0; f < 4; f++) Assert.True(tokens.Sources[f * 4].IsClassToken);
        Assert.Equal(4, tokens.Layout.Grids.Count);
    }

    [Fact]
    public void Decoder_pruners_act_on_the_whole_packed_image()
    {
        using var m = LlavaModel.Load(Next());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        int[] ids = [1, 5, 6, 120, 7, 8, 9];
        var image = Picture(90, 40, 5);
        var full = pipeline.Run(image, ids, 3, new RunOptions { Generation = new GenerationOptions { MaxNewTokens = 2, EosTokenId = -1 } });
        var pruned = pipeline.Run(image, ids, 3, new RunOptions
        {
            Pruner = MethodCatalog.ParseDecoder("fastv:k=1,keep=6"), Generation = new GenerationOptions { MaxNewTokens = 2, EosTokenId = -1 },
        });
        int visual = full.Report.VisualTokens;
        Assert.Equal(ids.Length - 1 + visual, full.Report.PromptTokens);
        Assert.Equal(ids.Length - 1 + 6, pruned.Report.TokensPerLayer[^1]);
    }

    [Fact]
    public void Bad_video_input_is_one_clear_error_each()
    {
        using var llava = LlavaModel.Load(TestData.LlavaTiny);
        var e = Assert.Throws<InvalidInputException>(() => new LlavaPipeline(llava, ComputeContext.SingleThread).PrepareVideo([Picture(20, 20, 1)]));
        Assert.Contains("no video tower", e.Message);

        using var m = LlavaModel.Load(Video());
        var pipeline = new LlavaPipeline(m, ComputeContext.SingleThread);
        Assert.Contains("differ in size", Assert.Throws<InvalidInputException>(() => pipeline.PrepareVideo([Picture(20, 20, 1), Picture(21, 20, 2)])).Message);
        Assert.Contains("no frames", Assert.Throws<InvalidInputException>(() => pipeline.PrepareVideo([])).Message);

        using var empty = TestData.TempDir();
        empty.File("notes.txt", "not a frame");
        Assert.Contains("has no frames", Assert.Throws<InvalidInputException>(() => VideoFrames.Load(empty.Path)).Message);
        Assert.Contains("not found", Assert.Throws<InvalidInputException>(() => VideoFrames.Load(empty.File("missing"))).Message);
        Picture(20, 20, 1).SavePng(empty.File("b.png"));
        Picture(22, 20, 1).SavePng(empty.File("a.png"));
        Assert.Contains("differ in size", Assert.Throws<InvalidInputException>(() => VideoFrames.Load(empty.Path)).Message);

        // A video where the prompt's placeholder is an image's, and the reverse.
        int[] ids = [1, 5, 121, 7];
        var video = pipeline.PrepareVideo([Picture(42, 42, 1)]);
        Assert.Contains("does not match", Assert.Throws<InvalidInputException>(() =>
            pipeline.Run([pipeline.Prepare(Picture(42, 42, 1), AspectMode.Crop)], ids, [2], new RunOptions())).Message);
        var ok = pipeline.Run([video], ids, [2], new RunOptions { Generation = new GenerationOptions { MaxNewTokens = 1, EosTokenId = -1 } });
        Assert.Equal(3 + m.Config.VideoTokensPerFrame, ok.Report.PromptTokens);
    }

    [Fact]
    public void Frames_load_in_file_name_order()
    {
        using var dir = TestData.TempDir();
        foreach (var name in new[] { "frame_10.png", "frame_02.png", "frame_01.png" }) Picture(8, 8, name.Length).SavePng(dir.File(name));
        Assert.Equal(["frame_01.png", "frame_02.png", "frame_10.png"], VideoFrames.Files(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void LlavaNext_rejects_the_full_strategy_and_bad_pinpoints()
    {
        var ok = LlavaConfigWriter.Create(Tower28, Text, 120, 127) with { Variant = LlavaVariant.LlavaNext, ImageGridPinpoints = [(28, 56)] };
        var full = Write("full", ok with { VisionFeatureSelectStrategy = "full" });
        Assert.Equal("vision_feature_select_strategy", Assert.Throws<ConfigException>(() => LlavaModel.Load(full)).Key);
        var bad = Write("bad", ok with { ImageGridPinpoints = [(30, 56)] });
        Assert.Equal("image_grid_pinpoints", Assert.Throws<ConfigException>(() => LlavaModel.Load(bad)).Key);
    }
}

/// <summary>Every catalog method on LLaVA-NeXT (a packed anyres image) and Video-LLaVA (a 3-frame
/// video): vision-side methods per view, decoder methods over the whole visual span; the budget
/// rules of docs/models/llava-family.md. A method that cannot apply says why.</summary>
public sealed class LlavaVariantMethodTests : IDisposable
{
    readonly TempDir _dir = TestData.TempDir();

    public void Dispose() => _dir.Dispose();

    static readonly ClipVisionConfig Tower = new(32, 64, 3, 4, 3, 42, 14, "quick_gelu", 1e-5f);
    static readonly LlamaConfig Text = new(128, 48, 96, 4, 4, 2, "silu", 2048, 1e-5f, 10000f, 1, 2, false);

    string Write(LlavaConfig config)
    {
        string dir = Path.Combine(_dir.Path, config.Variant.ToString());
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), LlavaConfigWriter.ToJson(config));
        File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), LlavaConfigWriter.PreprocessorJson(config));
        var rng = new Random(5);
        var w = new SafetensorsWriter();
        foreach (var t in LlavaSchema.Tensors(config))
        {
            int n = (int)t.Count;
            w.Add(t.Name, t.Kind switch
            {
                TensorKind.NormWeight => RandomLlava.Normal(rng, n, 0.1).Select(x => 1 + x).ToArray(),
                TensorKind.NormBias or TensorKind.Bias => RandomLlava.Normal(rng, n, 0.05),
                _ => RandomLlava.Normal(rng, n, 1.5 / Math.Sqrt(Math.Max(1, t.FanIn))),
            }, t.Shape);
        }
        w.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    /// <summary>BOS, a text id, the placeholder, then 16 varied text ids (SparseVLM rates by them, DART takes pivots).</summary>
    static int[] Prompt(int placeholder) => [1, 5, placeholder, .. Enumerable.Range(0, 16).Select(i => 10 + 7 * i % 100)];

    /// <summary>Specs sized for 9-patch views and a 4-layer decoder.</summary>
    public static TheoryData<string> Specs => new()
    {
        "none", "prumerge", "prumerge+", "prumerge:keep=4", "random:4", "pool:4", "pool:4,stage=pre", "fastervlm:4", "visionzip:3+1", "divprune:4",
        "tome:keep=4", "fastv:k=1,keep=12", "alpha:a=0.5,k=1,keep=12", "pdrop:layers=1/2,ratios=0.5/0.25", "sparsevlm:layers=1/2,budgets=20/10",
        "dart:k=1,keep=12", "prumerge+|fastv:k=1,keep=3",
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void Every_method_runs_on_a_packed_anyres_image_and_on_a_video(string spec)
    {
        var plan = MethodPlan.Parse(spec);
        var options = new RunOptions { Reducer = plan.Reducer, Pruner = plan.Pruner, Seed = 3, Generation = new GenerationOptions { MaxNewTokens = 2, EosTokenId = -1 } };
        var image = new RgbImage(100, 60);
        new Random(1).NextBytes(image.Pixels);

        using (var next = LlavaModel.Load(Write(LlavaConfigWriter.Create(Tower, Text, 120, 127) with
               {
                   Variant = LlavaVariant.LlavaNext, ImageGridPinpoints = [(42, 84), (84, 42), (84, 84)],
               })))
        {
            var pipeline = new LlavaPipeline(next, ComputeContext.SingleThread);
            var r = pipeline.Run(image, Prompt(120), 2, options);
            Assert.Equal(2, r.Tokens.Length);
            Assert.True(r.Report.VisualTokens <= r.Report.VisualTokensBefore);
            Assert.Equal(r.Report.VisualTokens, r.Report.VisualSources.Count);
        }
        using (var video = LlavaModel.Load(Write(LlavaConfigWriter.Create(Tower, Text, 120, 127) with { Variant = LlavaVariant.VideoLlava, VideoTokenIndex = 121 })))
        {
            var pipeline = new LlavaPipeline(video, ComputeContext.SingleThread);
            var frames = Enumerable.Range(0, 3).Select(i => image).ToList();
            var r = pipeline.Run([pipeline.PrepareVideo(frames)], Prompt(121), [2], options);
            Assert.Equal(2, r.Tokens.Length);
            Assert.Equal(3 * 10, r.Report.VisualTokensBefore);
        }
    }
}
