using System.CommandLine;
using Spectre.Console;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Pipeline;
using TokenSieve.Reduction;
using TokenSieve.Text;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve run`: one image + prompt on any llava-hf folder (or llama.cpp's LLaVA-1.5 pair: --model LM.gguf
/// --mmproj MMPROJ.gguf), with optional reduction.</summary>
public static class RunCommand
{
    public static Option<string?> ReduceOption() => new("--reduce")
    {
        Description = "vision-side or pre-LLM method spec (" + string.Join(", ", MethodCatalog.Entries.Where(e => e.Stage != MethodStage.Decoder).Select(e => e.Name)) + "), e.g. prumerge+, pool:144, visionzip:54+10; see `tokensieve methods`",
    };

    public static Option<string> TemplateOption() => new("--template")
    {
        Description = "prompt template: " + string.Join(", ", ChatTemplate.All.Select(t => t.Name)) + " (vicuna_v1 reproduces published LLaVA-1.5 numbers)",
        DefaultValueFactory = _ => ChatTemplate.VicunaV1.Name,
    };

    public static Option<string> AspectOption(string defaultMode) => new("--aspect")
    {
        Description = "pad: LLaVA's expand-to-square with the mean colour (published numbers); crop: CLIPImageProcessor's centre crop (llava-hf default)",
        DefaultValueFactory = _ => defaultMode,
    };

    public static AspectMode ParseAspect(string s) => s.ToLowerInvariant() switch
    {
        "pad" => AspectMode.Pad,
        "crop" => AspectMode.Crop,
        _ => throw new InvalidInputException($"--aspect must be pad or crop, got '{s}'"),
    };

    /// <summary>The prepared images and videos for the placeholders of <paramref name="ids"/>, walked in
    /// prompt order: each image placeholder takes the next --image, each video placeholder the next
    /// --video folder. Counts must match.</summary>
    public static (List<PreparedVisual> Visuals, List<int> Slots) Visuals(LlavaPipeline pipeline, int[] ids, IReadOnlyList<string> images, IReadOnlyList<string> videos, AspectMode aspect)
    {
        var slots = pipeline.FindSlots(ids);
        int wantImages = slots.Count(s => s.Kind == VisualKind.Image), wantVideos = slots.Count(s => s.Kind == VisualKind.Video);
        if (wantImages != images.Count)
            throw new InvalidInputException($"the input ids hold {wantImages} image placeholder(s) (id {pipeline.Model.Config.ImageTokenIndex}) but {images.Count} --image was given");
        if (wantVideos != videos.Count)
            throw new InvalidInputException(pipeline.Model.Config.VideoTokenIndex is int v
                ? $"the input ids hold {wantVideos} video placeholder(s) (id {v}) but {videos.Count} --video was given"
                : "--video needs a Video-LLaVA model (video_llava); this model has no video tower");
        if (slots.Count == 0) throw new InvalidInputException("the input ids hold no image or video placeholder");
        var visuals = new List<PreparedVisual>();
        int ni = 0, nv = 0;
        foreach (var s in slots)
            visuals.Add(s.Kind == VisualKind.Video
                ? pipeline.PrepareVideo(VideoFrames.Load(videos[nv++]))
                : pipeline.Prepare(ImageDecoder.Load(images[ni++]), aspect));
        return (visuals, slots.Select(s => s.Position).ToList());
    }

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var image = new Option<string[]>("--image") { Description = "image file (PNG, JPEG, BMP, GIF, TGA); repeat for several images, which fill the prompt's <image> placeholders in order (or go before the question)", AllowMultipleArgumentsPerToken = false };
        var video = new Option<string[]>("--video") { Description = "folder of video frames (every image file in it, sorted by name), for Video-LLaVA models; repeat for several; videos go after the images", AllowMultipleArgumentsPerToken = false };
        var prompt = new Option<string>("--prompt") { Description = "the question", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "generation limit", DefaultValueFactory = _ => 128 }.Range(0, 1 << 20);
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0f }.Range(0, 100);
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling mass (with temperature > 0)", DefaultValueFactory = _ => 1f }.Range(0, 1);
        var seed = new Option<int>("--seed") { Description = "seed for sampling and randomised reductions", DefaultValueFactory = _ => 0 };
        var reduce = ReduceOption();
        var prune = PruneCommandOptions.Prune();
        var template = TemplateOption();
        var aspect = AspectOption("pad");
        var threads = CommonOptions.Threads();
        var attention = CommonOptions.Attention();
        var allowUnknown = CommonOptions.AllowUnknownConfigKeys();
        var weights = CommonOptions.WeightsFile();
        var visionBudget = CommonOptions.VisionBudget();
        var mmproj = CommonOptions.Mmproj();
        var cmd = new Command("run", "Answer a question about an image with any llava-hf or Qwen2-VL model folder, optionally reducing visual tokens (Qwen2-VL: its own chat template and resize rules; --template and --aspect do not apply).")
        {
            model, image, video, prompt, maxNew, temperature, topP, seed, reduce, prune, template, aspect, threads, attention, allowUnknown, weights, visionBudget, mmproj,
        };
        cmd.SetAction((p, cancel) =>
        {
            var compute = CommonOptions.Compute(p.GetValue(threads), CommonOptions.ParseAttention(p.GetValue(attention)!));
            var reducer = MethodCatalog.ParseVision(p.GetValue(reduce) ?? "none");
            var pruner = PruneCommandOptions.Parse(p.GetValue(prune));
            var aspectMode = ParseAspect(p.GetValue(aspect)!);
            var tpl = ChatTemplate.Get(p.GetValue(template)!);
            string? mmprojFile = p.GetValue(mmproj);
            if (mmprojFile is null && Qwen2VlCommands.Is(p.GetValue(model)!))
                return Task.FromResult(Qwen2VlCommands.Run(p.GetValue(model)!, p.GetValue(image) ?? [], p.GetValue(prompt)!, new RunOptions
                {
                    Reducer = reducer, Pruner = pruner, Seed = (ulong)p.GetValue(seed),
                    Generation = new GenerationOptions { MaxNewTokens = p.GetValue(maxNew), Temperature = p.GetValue(temperature), TopP = p.GetValue(topP), Seed = p.GetValue(seed) },
                }, compute, p.GetValue(allowUnknown), p.GetValue(weights), cancel));
            using var m = CommonOptions.LoadModel(p.GetValue(model)!, p.GetValue(allowUnknown), p.GetValue(weights), compute, mmprojFile);
            var imageFiles = p.GetValue(image) ?? [];
            var videoFolders = p.GetValue(video) ?? [];
            if (imageFiles.Length + videoFolders.Length == 0) throw new InvalidInputException("give an --image (or a --video folder for Video-LLaVA)");
            if (videoFolders.Length > 0 && m.Config.VideoTokenIndex is null)
                throw new InvalidInputException($"--video needs a Video-LLaVA model (video_llava); this one is {LlavaConfig.ModelTypeOf(m.Config.Variant)}");
            var tokenizer = m.CreateTokenizer();
            var pipeline = new LlavaPipeline(m, compute);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var visuals = imageFiles.Select(f => pipeline.Prepare(ImageDecoder.Load(f), aspectMode))
                .Concat(videoFolders.Select(f => pipeline.PrepareVideo(VideoFrames.Load(f)))).ToList();
            double preprocessMs = sw.Elapsed.TotalMilliseconds;
            var ids = LlavaPrompt.Build(tokenizer, tpl, p.GetValue(prompt)!, m.Config.ImageTokenIndex, visuals.Count);
            // The placeholders beyond the images are the videos'.
            for (int i = imageFiles.Length; i < ids.ImageSlots.Length; i++) ids.Ids[ids.ImageSlots[i]] = m.Config.VideoTokenIndex!.Value;
            var result = pipeline.Run(visuals, ids.Ids, ids.ImageSlots, new RunOptions
            {
                Reducer = reducer, Pruner = pruner, Aspect = aspectMode, Seed = (ulong)p.GetValue(seed),
                VisionBudget = CommonOptions.ParseVisionBudget(p.GetValue(visionBudget)!),
                Generation = new GenerationOptions
                {
                    MaxNewTokens = p.GetValue(maxNew), Temperature = p.GetValue(temperature), TopP = p.GetValue(topP), Seed = p.GetValue(seed),
                    EosTokenId = tokenizer.EosId,
                },
            }, t => AnswerText.Decode(tokenizer, t), preprocessMs, cancel);
            Console.WriteLine(result.Text);
            Console.WriteLine();
            ReportPrinter.Print(result.Report);
            return Task.FromResult(0);
        });
        return cmd;
    }
}
