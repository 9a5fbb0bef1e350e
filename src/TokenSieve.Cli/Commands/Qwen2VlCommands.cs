using Spectre.Console;
using TokenSieve.Checkpoints;
using TokenSieve.Cost;
using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>The verbs' Qwen2-VL branches: each verb asks <see cref="ModelFamily.Detect"/> which model a folder
/// holds and hands a <c>qwen2_vl</c> folder here.</summary>
public static class Qwen2VlCommands
{
    /// <summary>True for a Qwen2-VL folder; a .gguf path (llama.cpp's language model of a LLaVA pair) is
    /// never one and is not read.</summary>
    public static bool Is(string folder) =>
        !folder.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) && ModelFamily.Detect(folder) == ModelKind.Qwen2Vl;

    public static Qwen2VlModel Load(string folder, bool allowUnknownKeys, string? weights) =>
        weights is not null && QuantizedWeights.IsTypeName(weights)
            ? throw new InvalidInputException($"--weights {weights} quantises LLaVA-family language models; Qwen2-VL folders load in their stored type")
            : Qwen2VlModel.Load(folder, new ModelLoadOptions { AllowUnknownConfigKeys = allowUnknownKeys, WeightsFile = weights });

    /// <summary>`run`: the chat template with the images first in the user turn, then the question;
    /// greedy or sampled answer; the run report.</summary>
    public static int Run(string folder, IReadOnlyList<string> imageFiles, string prompt, RunOptions options, ComputeContext compute, bool allowUnknownKeys, string? weights,
        CancellationToken cancel)
    {
        if (imageFiles.Count == 0) throw new InvalidInputException("--image is required for Qwen2-VL (repeat it for several images; they go first in the user turn)");
        using var m = Load(folder, allowUnknownKeys, weights);
        var tokenizer = Qwen2Tokenizer.FromFolder(m.Directory);
        var pipeline = new Qwen2VlPipeline(m, compute);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var images = imageFiles.Select(f => pipeline.Prepare(ImageDecoder.Load(f), f)).ToList();
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        var parts = images.Select(_ => Qwen2VlPart.Image).Append(Qwen2VlPart.FromText(prompt)).ToArray();
        var ids = Qwen2VlPrompt.Build(tokenizer, [Qwen2VlMessage.User(parts)]).Ids;
        var generation = options.Generation with { EosTokenId = options.Generation.EosTokenId ?? (tokenizer.EosId >= 0 ? tokenizer.EosId : null) };
        var result = pipeline.Run(images, ids, options with { Generation = generation }, t => AnswerText.Decode(tokenizer, t), preprocessMs, cancel);
        Console.WriteLine(result.Text);
        Console.WriteLine();
        ReportPrinter.Print(result.Report);
        return 0;
    }

    /// <summary>`dump`: the fixture's tensor names for the exact model input (each image's pad run expanded).</summary>
    public static Dictionary<string, (float[] Values, int[] Shape)> Dump(string folder, IReadOnlyList<string> imageFiles, int[] ids, int maxNew, Pruning.IDecoderPruner? pruner,
        ComputeContext compute, bool allowUnknownKeys, string? weights, CancellationToken cancel)
    {
        if (imageFiles.Count == 0) throw new InvalidInputException("--image is required (repeat it for several images, in prompt order)");
        using var m = Load(folder, allowUnknownKeys, weights);
        var pipeline = new Qwen2VlPipeline(m, compute);
        var images = imageFiles.Select(f => pipeline.Prepare(ImageDecoder.Load(f), f)).ToList();
        return Qwen2VlParityDump.Run(pipeline, images, ids, maxNew, pruner, cancel);
    }

    /// <summary>`bench --speed` on a Qwen2-VL folder.</summary>
    public static SpeedReport Speed(string folder, ComputeContext compute, SpeedOptions options, CancellationToken cancel, string? weights = null)
    {
        using var m = Load(folder, false, weights);
        return Qwen2VlSpeed.Run(m, compute, options, ConsoleProgress.Instance, cancel);
    }

    /// <summary>`inspect`: the resolved config (defaults marked), parameters, dtypes, and what an image costs.</summary>
    public static void Inspect(string folder, bool allowUnknownKeys, string? weights, int? context)
    {
        using var m = Load(folder, allowUnknownKeys, weights);
        var console = CliConsole.Out;
        var c = m.Config;
        var defaulted = new HashSet<string>(c.Defaulted);
        var t = new Table().Border(TableBorder.Rounded).AddColumn("key").AddColumn("value");
        void Row(string key, object value) => t.AddRow(Markup.Escape(key), Markup.Escape(value.ToString()!) + (defaulted.Contains(key) ? " [grey](default)[/]" : ""));
        var v = c.Vision;
        Row("model_type", Qwen2VlConfig.ModelType);
        Row("vision_config.depth", v.Depth);
        Row("vision_config.embed_dim", v.EmbedDim);
        Row("vision_config.num_heads", v.NumHeads);
        Row("vision_config.mlp_ratio", v.MlpRatio);
        Row("vision_config.hidden_act", v.HiddenAct);
        Row("vision_config.patch_size", v.PatchSize);
        Row("vision_config.spatial_merge_size", v.SpatialMergeSize);
        Row("vision_config.temporal_patch_size", v.TemporalPatchSize);
        Row("vision_config.hidden_size", v.HiddenSize);
        var x = c.Text;
        Row("vocab_size", x.VocabSize);
        Row("hidden_size", x.HiddenSize);
        Row("intermediate_size", x.IntermediateSize);
        Row("num_hidden_layers", x.NumHiddenLayers);
        Row("num_attention_heads", x.NumAttentionHeads);
        Row("num_key_value_heads", x.NumKeyValueHeads);
        Row("max_position_embeddings", x.MaxPositionEmbeddings);
        Row("rms_norm_eps", x.RmsNormEps);
        Row("rope_theta", x.RopeTheta);
        Row("rope_scaling.mrope_section", $"[{string.Join(", ", x.MropeSection!)}] (t, h, w)");
        Row("tie_word_embeddings", x.TieWordEmbeddings);
        Row("image_token_id", c.ImageTokenId);
        Row("vision_start_token_id", c.VisionStartTokenId);
        Row("vision_end_token_id", c.VisionEndTokenId);
        console.Write(t);

        var pipeline = new Qwen2VlPipeline(m, ComputeContext.SingleThread);
        var p = pipeline.Processor.Config;
        var sample = pipeline.Prepare(new RgbImage(448, 448));
        int h = sample.Resized.Height, w = sample.Resized.Width, patches = sample.PatchCount, visual = sample.MergedTokenCount;
        int tokens = context ?? visual + 64;
        var dtypes = m.Weights.Names.Select(m.Weights.Get).GroupBy(z => z.DType).Select(g => $"{g.Key}: {g.Count()} tensors, {CommonOptions.Bytes(g.Sum(z => z.ByteLength))}");
        long kv = CostModel.KvCacheBytes(x, Enumerable.Repeat(tokens, x.NumHiddenLayers).ToArray());
        console.MarkupLine($"files: {m.Weights.Files.Count} safetensors ({string.Join(", ", m.Weights.Files.Select(f => Markup.Escape(Path.GetFileName(f.Path))))})");
        console.MarkupLine($"parameters: {m.ParameterCount:N0}");
        console.MarkupLine($"dtypes: {string.Join("; ", dtypes)}");
        console.MarkupLine($"images: resized to multiples of {p.Factor} px with min_pixels {p.MinPixels} .. max_pixels {p.MaxPixels}: {p.MinPixels / (p.Factor * p.Factor)} .. {p.MaxPixels / (p.Factor * p.Factor)} visual tokens per image, {v.MergeUnit} patches each");
        console.MarkupLine($"a 448x448 image: {h}x{w} px, {patches} patches, {visual} visual tokens; vision tower {CommonOptions.Flops(Qwen2VlCost.VisionFlops(v, [patches]))}, merger {CommonOptions.Flops(Qwen2VlCost.MergerFlops(v, visual))}");
        console.MarkupLine($"memory for a {tokens}-token prefill: weights {CommonOptions.Bytes(m.WeightBytes)} (memory-mapped, stored dtype) + KV cache {CommonOptions.Bytes(kv)} (float32) + decoder workspace ≈{CommonOptions.Bytes(CostModel.PrefillWorkspaceBytes(x, tokens))}");
        console.MarkupLine($"prefill cost at {tokens} tokens: {CommonOptions.Flops(CostModel.PrefillFlops(x, tokens))}");
        foreach (var k in c.IgnoredKeys) console.MarkupLine($"[yellow]ignored unknown config key[/]: {Markup.Escape(k)}");
        bool tokenizer = File.Exists(Path.Combine(m.Directory, "tokenizer.json")) || (File.Exists(Path.Combine(m.Directory, "vocab.json")) && File.Exists(Path.Combine(m.Directory, "merges.txt")));
        if (!tokenizer) console.MarkupLine("[yellow]no vocab.json + merges.txt or tokenizer.json[/]: `run` needs a Qwen2 tokenizer; `dump` with --input-ids does not");
        if (!File.Exists(Path.Combine(m.Directory, "preprocessor_config.json"))) console.MarkupLine("[yellow]no preprocessor_config.json[/]: Qwen2VLImageProcessor's class defaults will be used");
    }
}
