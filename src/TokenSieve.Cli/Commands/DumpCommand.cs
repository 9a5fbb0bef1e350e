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
        var image = new Option<string[]>("--image") { Description = "image file; repeat for several, in the order of the image placeholders in --input-ids", AllowMultipleArgumentsPerToken = false };
        var inputIds = new Option<string>("--input-ids")
        {
            Description = "comma-separated token ids: LLaVA, exactly one image token (image_token_index) marking the image slot; Qwen2-VL, the exact model input with each image's <|image_pad|> run expanded",
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
            if (Qwen2VlCommands.Is(p.GetValue(model)!))
            {
                // Qwen2-VL: --input-ids is the exact model input, each image's <|image_pad|> run expanded.
                int steps = p.GetValue(maxNew);
                if (steps < 0) throw new InvalidInputException($"--max-new-tokens must be >= 0, got {steps}");
                var dumped = Qwen2VlCommands.Dump(p.GetValue(model)!, p.GetValue(image) ?? [], ParseIds(p.GetValue(inputIds)!), steps, PruneCommandOptions.Parse(p.GetValue(prune)),
                    CommonOptions.Compute(p.GetValue(threads)), p.GetValue(allowUnknown), p.GetValue(weights), cancel);
                Write(dumped, p.GetValue(output)!);
                return Task.FromResult(0);
            }
            var ids = ParseIds(p.GetValue(inputIds)!);
            var pruner = PruneCommandOptions.Parse(p.GetValue(prune));
            var compute = CommonOptions.Compute(p.GetValue(threads));
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights));
            int slot = InferenceSession.FindImageSlot(ids, m.Config.ImageTokenIndex);
            int maxNewTokens = p.GetValue(maxNew);
            if (maxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must be >= 0, got {maxNewTokens}");
            var pipeline = new Pipeline.LlavaPipeline(m, compute);
            if (p.GetValue(image) is not [var imageFile]) throw new InvalidInputException("give exactly one --image for this model");
            var pixels = pipeline.Preprocess(ImageDecoder.Load(imageFile), RunCommand.ParseAspect(p.GetValue(aspect)!));
            var tensors = Pipeline.ParityDump.Run(pipeline, pixels, ids, slot, maxNewTokens, pruner, cancel);
            Write(tensors, p.GetValue(output)!);
            return Task.FromResult(0);
        });
        return cmd;
    }

    static void Write(Dictionary<string, (float[] Values, int[] Shape)> tensors, string path)
    {
        var writer = new SafetensorsWriter().AddMetadata("format", "pt").AddMetadata("producer", "tokensieve dump");
        foreach (var (name, (values, shape)) in tensors) writer.Add(name, values, shape);
        writer.Write(path);
        Console.WriteLine($"wrote {tensors.Count} tensors to {path}");
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
}
