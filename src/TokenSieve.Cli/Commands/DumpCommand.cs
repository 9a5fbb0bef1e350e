using System.CommandLine;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve dump`: the parity tool. Runs given input ids with an image and writes named
/// F32 intermediate tensors, named as in the fixtures' golden.json, to a safetensors file.</summary>
public static class DumpCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var image = new Option<string>("--image") { Description = "image file", Required = true };
        var inputIds = new Option<string>("--input-ids")
        {
            Description = "comma-separated token ids with exactly one image token (the config's image_token_index) marking the image slot",
            Required = true,
        };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "greedy steps to record in generate.step_logits / generated_ids", DefaultValueFactory = _ => 8 };
        var output = new Option<string>("--out") { Description = "safetensors file to write", Required = true };
        var prune = PruneCommandOptions.Prune();
        var aspect = RunCommand.AspectOption("crop");
        var threads = CommonOptions.Threads();
        var allowUnknown = CommonOptions.AllowUnknownConfigKeys();
        var weights = CommonOptions.WeightsFile();
        var cmd = new Command("dump", "Write named intermediate tensors (vision hidden states, selected features, projector, LLM hidden states, logits, greedy steps) for parity checks.")
        {
            model, image, inputIds, maxNew, output, prune, aspect, threads, allowUnknown, weights,
        };
        cmd.SetAction((p, cancel) =>
        {
            var ids = ParseIds(p.GetValue(inputIds)!);
            var pruner = PruneCommandOptions.Parse(p.GetValue(prune));
            var compute = CommonOptions.Compute(p.GetValue(threads));
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights));
            int slot = InferenceSession.FindImageSlot(ids, m.Config.ImageTokenIndex);
            int maxNewTokens = p.GetValue(maxNew);
            if (maxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must be >= 0, got {maxNewTokens}");
            var pipeline = new Pipeline.LlavaPipeline(m, compute);
            var pixels = pipeline.Preprocess(ImageDecoder.Load(p.GetValue(image)!), RunCommand.ParseAspect(p.GetValue(aspect)!));
            var tensors = Dump(m, pipeline.Session, pixels, ids, slot, maxNewTokens, pruner, cancel);
            var writer = new SafetensorsWriter().AddMetadata("format", "pt").AddMetadata("producer", "tokensieve dump");
            foreach (var (name, (values, shape)) in tensors) writer.Add(name, values, shape);
            writer.Write(p.GetValue(output)!);
            Console.WriteLine($"wrote {tensors.Count} tensors to {p.GetValue(output)}");
            return Task.FromResult(0);
        });
        return cmd;
    }

    public static int[] ParseIds(string text)
    {
        var parts = text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new InvalidInputException("--input-ids is empty");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i])) throw new InvalidInputException($"--input-ids: '{parts[i]}' (item {i}) is not an integer");
        return ids;
    }

    /// <summary>The tensors of a dump, named as in fixtures/llava-tiny/golden.json.</summary>
    public static Dictionary<string, (float[] Values, int[] Shape)> Dump(LlavaModel m, InferenceSession session, float[] pixels, int[] ids, int slot, int maxNew,
        Pruning.IDecoderPruner? pruner, CancellationToken cancel)
    {
        var cfg = m.Config;
        var ctx = session.Compute;
        var result = new Dictionary<string, (float[], int[])>();
        int s = cfg.Vision.ImageSize, c = cfg.Vision.HiddenSize, t = cfg.Vision.SequenceLength, d = cfg.Text.HiddenSize, v = cfg.Text.VocabSize;
        result["preprocess.pixel_values"] = (pixels, [1, cfg.Vision.NumChannels, s, s]);
        var vision = m.Vision.Forward(ctx, pixels, VisionTaps.AllHiddenStates, cancel);
        result["vision.embeddings"] = (vision.Embeddings!, [1, t, c]);
        for (int i = 0; i < vision.HiddenStates!.Count; i++) result[$"vision.hidden_states.{i}"] = (vision.HiddenStates[i], [1, t, c]);
        int rows = cfg.ImageTokensPerImage;
        var selected = (cfg.KeepClsFeature ? vision.FeatureHidden.AsSpan(0, rows * c) : vision.PatchFeatures).ToArray();
        result["image_features.selected"] = (selected, [1, rows, c]);
        float[] l1 = new float[rows * d], gelu = new float[rows * d], projected = new float[rows * d];
        m.Projector.Forward(ctx, selected, rows, projected, l1, gelu);
        result["projector.linear_1"] = (l1, [1, rows, d]);
        result["projector.gelu"] = (gelu, [1, rows, d]);
        result["projector.output"] = (projected, [1, rows, d]);

        var seq = session.Splice(ids, slot, projected, rows);
        result["llm.inputs_embeds"] = (seq.Embeddings, [1, seq.Length, d]);
        result["llm.position_ids"] = (seq.Positions.Select(x => (float)x).ToArray(), [1, seq.Length]);
        var prefill = session.Prefill(seq, 0, new PrefillOptions { HiddenStates = pruner is null, AllLogits = true }, pruner, cancel);
        if (prefill.HiddenStates is { } hs)
            for (int i = 0; i < hs.Count; i++) result[$"llm.hidden_states.{i}"] = (hs[i], [1, seq.Length, d]);
        result["llm.logits"] = (prefill.AllLogits!, [1, prefill.FinalLength, v]);
        if (pruner is not null)
            result["kept_positions"] = (prefill.KeptOriginalIndices.Select(x => (float)x).ToArray(), [prefill.KeptOriginalIndices.Length]);

        if (maxNew > 0)
        {
            var gen = session.Generate(seq, new GenerationOptions { MaxNewTokens = maxNew, KeepStepLogits = true, EosTokenId = cfg.Text.EosTokenId }, pruner, cancel);
            var steps = gen.StepLogits!;
            var flat = new float[steps.Count * v];
            for (int i = 0; i < steps.Count; i++) steps[i].CopyTo(flat, i * v);
            result["generate.step_logits"] = (flat, [steps.Count, v]);
            result["generated_ids"] = (gen.Tokens.Select(x => (float)x).ToArray(), [gen.Tokens.Length]);
        }
        return result;
    }
}
