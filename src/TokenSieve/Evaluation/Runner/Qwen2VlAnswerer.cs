using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Evaluation;

/// <summary>Answers evaluation items with a <see cref="Qwen2VlPipeline"/>: the item's image first in the user
/// turn of Qwen2-VL's chat template, then its prompt; the item's method spec; the measured cost with the
/// answer, as <see cref="EngineAnswerer"/> does for LLaVA. Conversation items (earlier turns) are not
/// supported on Qwen2-VL yet.</summary>
public sealed class Qwen2VlAnswerer
{
    readonly Qwen2VlPipeline _pipeline;
    readonly Qwen2Tokenizer _tokenizer;
    readonly int _maxNewTokens;
    readonly MethodPlans _methods = new();
    string? _imageKey;
    Qwen2VlImagePatches? _image;

    public Qwen2VlAnswerer(Qwen2VlPipeline pipeline, Qwen2Tokenizer tokenizer, int maxNewTokens)
    {
        _pipeline = pipeline;
        _tokenizer = tokenizer;
        _maxNewTokens = maxNewTokens;
    }

    /// <summary>Parses every spec up front so a typo fails before hours of work.</summary>
    public void Prepare(IEnumerable<string> specs) => _methods.Prepare(specs);

    Qwen2VlImagePatches Image(EvalItem item)
    {
        // Items run through every configuration in turn: keep the last image's patches.
        string key = item.ImagePath ?? $"{item.Task}/{item.QuestionId}";
        if (key == _imageKey && _image is not null) return _image;
        _image = _pipeline.Prepare(LoadImage(item), item.ImagePath ?? key);
        _imageKey = key;
        return _image;
    }

    /// <summary>An item's image: its file, or the bytes embedded in the dataset (MMBench).</summary>
    internal static RgbImage LoadImage(EvalItem item) =>
        item.ImagePath is not null ? ImageDecoder.Load(item.ImagePath)
        : item.ImageBytes is { } bytes ? ImageDecoder.Decode(bytes.ToArray(), $"{item.Task}/{item.QuestionId}")
        : throw new InvalidInputException($"{item.Task}/{item.QuestionId}: the item has no image");

    public ValueTask<Prediction> Answer(AnswerRequest request, CancellationToken cancel)
    {
        var item = request.Item;
        if (item.Prior.Count > 0) throw new InvalidInputException($"{item.Task}/{item.QuestionId}: conversation items are not supported on Qwen2-VL yet");
        var method = _methods.Get(request.Method.Spec);
        var ids = Qwen2VlPrompt.Build(_tokenizer, [Qwen2VlMessage.User(Qwen2VlPart.Image, Qwen2VlPart.FromText(item.Prompt))]).Ids;
        var options = new RunOptions
        {
            Reducer = method.Reducer, Pruner = method.Pruner, Seed = (ulong)(uint)request.Seed,
            Generation = new GenerationOptions { MaxNewTokens = _maxNewTokens, EosTokenId = _tokenizer.EosId >= 0 ? _tokenizer.EosId : null, Seed = request.Seed },
        };
        var result = _pipeline.Run([Image(item)], ids, options, t => AnswerText.Decode(_tokenizer, t), cancel: cancel);
        var r = result.Report;
        return ValueTask.FromResult(new Prediction(result.Text ?? "", r.VisualTokens, r.PrefillMs, r.DecodeMs, r.TimeToFirstTokenMs,
            r.VisionFlops + r.ProjectorFlops + r.PrefillFlops, KeptSources.From(r), r.Attention == Numerics.AttentionMode.Eager ? "eager" : null));
    }
}
