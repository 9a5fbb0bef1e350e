using TokenSieve.Imaging;
using System.CommandLine;
using Spectre.Console;
using TokenSieve.Checkpoints;
using TokenSieve.Cost;
using TokenSieve.Models;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve inspect`: the resolved config (defaults marked), parameters, dtypes, memory.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var allowUnknown = CommonOptions.AllowUnknownConfigKeys();
        var weights = CommonOptions.WeightsFile();
        var mmproj = CommonOptions.Mmproj();
        var context = new Option<int?>("--context") { Description = "tokens to budget the KV cache for (default: one image's visual tokens for this model + 64 text; 576 + 64 for LLaVA-1.5)" };
        var cmd = new Command("inspect", "Describe a model folder: config with defaults, parameters, dtypes, memory it will need.") { model, allowUnknown, weights, context, mmproj };
        cmd.SetAction(p =>
        {
            if (p.GetValue(mmproj) is null && Qwen2VlCommands.Is(p.GetValue(model)!))
            {
                Qwen2VlCommands.Inspect(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights), p.GetValue(context));
                return 0;
            }
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights), mmproj: p.GetValue(mmproj));
            if (p.GetValue(context) is int n && (n < 1 || n > m.Config.Text.MaxPositionEmbeddings))
                throw new InvalidInputException($"--context must be 1..{m.Config.Text.MaxPositionEmbeddings} (the model's context), got {n}");
            Print(m, p.GetValue(context));
            return 0;
        });
        return cmd;
    }

    static void Print(LlavaModel m, int? context)
    {
        var console = CliConsole.Out;
        var c = m.Config;
        var defaulted = new HashSet<string>(c.Defaulted);
        string D(string key, object value) => defaulted.Contains(key) ? $"{value} [grey](default)[/]" : $"{value}";
        var t = new Table().Border(TableBorder.Rounded).AddColumn("key").AddColumn("value");
        void Row(string key, object value) => t.AddRow(Markup.Escape(key), D(key, Markup.Escape(value.ToString()!)));
        Row("vision_config.hidden_size", c.Vision.HiddenSize);
        Row("vision_config.intermediate_size", c.Vision.IntermediateSize);
        Row("vision_config.num_hidden_layers", c.Vision.NumHiddenLayers);
        Row("vision_config.num_attention_heads", c.Vision.NumAttentionHeads);
        Row("vision_config.image_size", c.Vision.ImageSize);
        Row("vision_config.patch_size", c.Vision.PatchSize);
        Row("vision_config.hidden_act", c.Vision.HiddenAct);
        Row("vision_config.layer_norm_eps", c.Vision.LayerNormEps);
        Row("text_config.vocab_size", c.Text.VocabSize);
        Row("text_config.hidden_size", c.Text.HiddenSize);
        Row("text_config.intermediate_size", c.Text.IntermediateSize);
        Row("text_config.num_hidden_layers", c.Text.NumHiddenLayers);
        Row("text_config.num_attention_heads", c.Text.NumAttentionHeads);
        Row("text_config.num_key_value_heads", c.Text.NumKeyValueHeads);
        Row("text_config.hidden_act", c.Text.HiddenAct);
        Row("text_config.max_position_embeddings", c.Text.MaxPositionEmbeddings);
        Row("text_config.rms_norm_eps", c.Text.RmsNormEps);
        Row("text_config.rope_theta", c.Text.RopeTheta);
        Row("image_token_index", c.ImageTokenIndex);
        Row("projector_hidden_act", c.ProjectorHiddenAct);
        Row("vision_feature_layer", c.VisionFeatureLayer);
        Row("vision_feature_select_strategy", c.VisionFeatureSelectStrategy);
        if (c.Variant == LlavaVariant.LlavaNext) Row("image_grid_pinpoints", string.Join(" ", c.ImageGridPinpoints.Select(p => $"{p.Height}x{p.Width}")));
        if (c.VideoTokenIndex is int video) Row("video_token_index", video);
        if (c.Text.SlidingWindow is int window) Row("text_config.sliding_window", window);
        console.Write(t);

        var dtypes = m.Weights.Names.Select(m.Weights.Get).GroupBy(x => x.DType)
            .Select(g => $"{g.Key}: {g.Count()} tensors, {CommonOptions.Bytes(g.Sum(x => x.ByteLength))}");
        int visual = c.ImageTokensPerImage, g = c.Vision.GridSize, views = 1;
        string perImage = $"{visual} ({g}x{g} patches{(c.KeepClsFeature ? " + CLS" : "")})";
        if (c.Variant == LlavaVariant.LlavaNext)
        {
            // The largest anyres layout: the pinpoint with the most tiles, for an image of that exact size.
            var plans = c.ImageGridPinpoints.Select(p => AnyRes.Plan(p.Height, p.Width, c.ImageGridPinpoints, c.Vision.ImageSize, g)).ToList();
            var most = plans.MaxBy(p => p.TileCount)!;
            visual = AnyRes.FeatureLength(most.Height, most.Width, c.ImageGridPinpoints, c.Vision.ImageSize, g);
            views = most.TileCount;
            perImage = $"up to {visual} (anyres: base {g}x{g} + {most.Tiles.Rows}x{most.Tiles.Cols} tiles for a {most.Width}x{most.Height} image, unpadded, one newline per row; smaller for other aspect ratios)";
        }
        int tokens = context ?? visual + 64;
        long kv = CostModel.KvCacheBytes(c.Text, Enumerable.Repeat(tokens, c.Text.NumHiddenLayers).ToArray());
        long workspace = CostModel.PrefillWorkspaceBytes(c.Text, tokens);
        console.MarkupLine($"files: {m.Weights.Files.Count} safetensors ({string.Join(", ", m.Weights.Files.Select(f => Markup.Escape(Path.GetFileName(f.Path))))})");
        console.MarkupLine($"parameters: {m.ParameterCount:N0}");
        console.MarkupLine($"dtypes: {string.Join("; ", dtypes)}");
        console.MarkupLine($"model: {LlavaConfig.ModelTypeOf(c.Variant)}; visual tokens per image: {Markup.Escape(perImage)}; vision layers run: {c.VisionLayersToRun} of {c.Vision.NumHiddenLayers}");
        if (c.VideoTokenIndex is not null) console.MarkupLine($"visual tokens per video frame: {c.VideoTokensPerFrame} ({g}x{g} patches + CLS, video tower); 8 frames = {8 * c.VideoTokensPerFrame}");
        console.MarkupLine($"memory for a {tokens}-token prefill: weights {CommonOptions.Bytes(m.WeightBytes)} (memory-mapped, stored dtype) + KV cache {CommonOptions.Bytes(kv)} (float32) + decoder workspace ≈{CommonOptions.Bytes(workspace)}");
        console.MarkupLine($"prefill cost at {tokens} tokens: {CommonOptions.Flops(CostModel.PrefillFlops(c.Text, tokens))}; vision tower: {CommonOptions.Flops(views * CostModel.VisionFlops(c.Vision, c.VisionLayersToRun, c.Vision.SequenceLength))}{(views > 1 ? $" ({views} views)" : "")}");
        foreach (var k in c.IgnoredKeys) console.MarkupLine($"[yellow]ignored unknown config key[/]: {Markup.Escape(k)}");
        if (!File.Exists(Path.Combine(m.Directory, "tokenizer.model"))) console.MarkupLine("[yellow]no tokenizer.model[/]: `run` needs one; `dump` with --input-ids does not");
        if (!File.Exists(Path.Combine(m.Directory, "preprocessor_config.json"))) console.MarkupLine("[yellow]no preprocessor_config.json[/]: CLIP defaults at the config's image size will be used");
    }
}
