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
        var context = new Option<int?>("--context") { Description = "tokens to budget the KV cache for (default: 576 visual + 64 text)" };
        var cmd = new Command("inspect", "Describe a model folder: config with defaults, parameters, dtypes, memory it will need.") { model, allowUnknown, weights, context };
        cmd.SetAction(p =>
        {
            if (Qwen2VlCommands.Is(p.GetValue(model)!))
            {
                Qwen2VlCommands.Inspect(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights), p.GetValue(context));
                return 0;
            }
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights));
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
        console.Write(t);

        var dtypes = m.Weights.Names.Select(m.Weights.Get).GroupBy(x => x.DType)
            .Select(g => $"{g.Key}: {g.Count()} tensors, {CommonOptions.Bytes(g.Sum(x => x.ByteLength))}");
        int visual = c.ImageTokensPerImage;
        int tokens = context ?? visual + 64;
        long kv = CostModel.KvCacheBytes(c.Text, Enumerable.Repeat(tokens, c.Text.NumHiddenLayers).ToArray());
        long workspace = CostModel.PrefillWorkspaceBytes(c.Text, tokens);
        console.MarkupLine($"files: {m.Weights.Files.Count} safetensors ({string.Join(", ", m.Weights.Files.Select(f => Markup.Escape(Path.GetFileName(f.Path))))})");
        console.MarkupLine($"parameters: {m.ParameterCount:N0}");
        console.MarkupLine($"dtypes: {string.Join("; ", dtypes)}");
        console.MarkupLine($"visual tokens per image: {visual} ({c.Vision.GridSize}x{c.Vision.GridSize} patches{(c.KeepClsFeature ? " + CLS" : "")}); vision layers run: {c.VisionLayersToRun} of {c.Vision.NumHiddenLayers}");
        console.MarkupLine($"memory for a {tokens}-token prefill: weights {CommonOptions.Bytes(m.WeightBytes)} (memory-mapped, stored dtype) + KV cache {CommonOptions.Bytes(kv)} (float32) + decoder workspace ≈{CommonOptions.Bytes(workspace)}");
        console.MarkupLine($"prefill cost at {tokens} tokens: {CommonOptions.Flops(CostModel.PrefillFlops(c.Text, tokens))}; vision tower: {CommonOptions.Flops(CostModel.VisionFlops(c.Vision, c.VisionLayersToRun, c.Vision.SequenceLength))}");
        foreach (var k in c.IgnoredKeys) console.MarkupLine($"[yellow]ignored unknown config key[/]: {Markup.Escape(k)}");
        if (!File.Exists(Path.Combine(m.Directory, "tokenizer.model"))) console.MarkupLine("[yellow]no tokenizer.model[/]: `run` needs one; `dump` with --input-ids does not");
        if (!File.Exists(Path.Combine(m.Directory, "preprocessor_config.json"))) console.MarkupLine("[yellow]no preprocessor_config.json[/]: CLIP defaults at the config's image size will be used");
    }
}
