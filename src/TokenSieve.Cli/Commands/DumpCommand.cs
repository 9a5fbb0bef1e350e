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
        var video = new Option<string[]>("--video") { Description = "folder of video frames (every image file, sorted by name; Video-LLaVA); repeat for several, in the order of the video placeholders", AllowMultipleArgumentsPerToken = false };
        var inputIds = new Option<string>("--input-ids")
        {
            Description = "comma-separated token ids: LLaVA, one placeholder per image (image_token_index) and per video (video_token_index), which the engine expands; Qwen2-VL, the exact model input with each image's <|image_pad|> run expanded",
            Required = true,
        };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "greedy steps to record in generate.step_logits / generated_ids", DefaultValueFactory = _ => 8 }.Range(0, 1 << 16);
        var output = new Option<string>("--out") { Description = "safetensors file to write", Required = true };
        var prune = PruneCommandOptions.Prune();
        var aspect = RunCommand.AspectOption("crop");
        var threads = CommonOptions.Threads();
        var allowUnknown = CommonOptions.AllowUnknownConfigKeys();
        var weights = CommonOptions.WeightsFile();
        var mmproj = CommonOptions.Mmproj();
        var cmd = new Command("dump", "Write named intermediate tensors (vision hidden states, selected features, projector, LLM hidden states, logits, greedy steps) for parity checks.")
        {
            model, image, video, inputIds, maxNew, output, prune, aspect, threads, allowUnknown, weights, mmproj,
        };
        cmd.SetAction((p, cancel) =>
        {
            if (p.GetValue(mmproj) is null && Qwen2VlCommands.Is(p.GetValue(model)!))
            {
                // Qwen2-VL: --input-ids is the exact model input, each image's <|image_pad|> run expanded.
                var dumped = Qwen2VlCommands.Dump(p.GetValue(model)!, p.GetValue(image) ?? [], ParseIds(p.GetValue(inputIds)!), p.GetValue(maxNew), PruneCommandOptions.Parse(p.GetValue(prune)),
                    CommonOptions.Compute(p.GetValue(threads)), p.GetValue(allowUnknown), p.GetValue(weights), cancel);
                Write(dumped, p.GetValue(output)!);
                return Task.FromResult(0);
            }
            var ids = ParseIds(p.GetValue(inputIds)!);
            var pruner = PruneCommandOptions.Parse(p.GetValue(prune));
            var compute = CommonOptions.Compute(p.GetValue(threads));
            int maxNewTokens = p.GetValue(maxNew);
            if (maxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must be >= 0, got {maxNewTokens}");
            var aspectMode = RunCommand.ParseAspect(p.GetValue(aspect)!);
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights), mmproj: p.GetValue(mmproj));
            var pipeline = new Pipeline.LlavaPipeline(m, compute);
            var (visuals, slots) = RunCommand.Visuals(pipeline, ids, p.GetValue(image) ?? [], p.GetValue(video) ?? [], aspectMode);
            var tensors = Pipeline.ParityDump.Run(pipeline, visuals, ids, slots, maxNewTokens, pruner, cancel);
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
        // Commas separate ids (spaces around them are allowed); "1,,250" is a typo, not two ids.
        var parts = text.Contains(',')
            ? text.Trim().Split(',', StringSplitOptions.TrimEntries)
            : text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || parts.All(p => p.Length == 0)) throw new InvalidInputException("--input-ids is empty");
        if (parts.Length > 1 << 20) throw new InvalidInputException($"--input-ids has {parts.Length} ids; more than any context");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0) throw new InvalidInputException($"--input-ids: item {i} is empty (two commas in a row?)");
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ids[i]))
                throw new InvalidInputException($"--input-ids: '{TokenSieveException.Printable(parts[i], 40)}' (item {i}) is not an integer id (0 or more)");
        }
        return ids;
    }
}
