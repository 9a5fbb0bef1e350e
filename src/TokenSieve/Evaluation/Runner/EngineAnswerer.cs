using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Evaluation;

/// <summary>Answers evaluation items with a <see cref="LlavaPipeline"/>: decodes the item's image,
/// builds the prompt with the chosen template, applies the item's method spec
/// (<see cref="MethodPlan"/>) and reports the measured cost with the answer.</summary>
public sealed class EngineAnswerer
{
    readonly LlavaPipeline _pipeline;
    readonly SentencePieceBpeTokenizer _tokenizer;
    readonly ChatTemplate _template;
    readonly AspectMode _aspect;
    readonly int _maxNewTokens;
    readonly MethodPlans _methods = new();
    string? _imageKey;
    IReadOnlyList<PreparedVisual>? _visual;

    public EngineAnswerer(LlavaPipeline pipeline, SentencePieceBpeTokenizer tokenizer, ChatTemplate template, AspectMode aspect, int maxNewTokens)
    {
        _pipeline = pipeline;
        _tokenizer = tokenizer;
        _template = template;
        _aspect = aspect;
        _maxNewTokens = maxNewTokens;
    }

    /// <summary>Parses every spec up front so a typo fails before hours of work.</summary>
    public void Prepare(IEnumerable<string> specs) => _methods.Prepare(specs);

    IReadOnlyList<PreparedVisual> Visuals(EvalItem item)
    {
        // Items run through every configuration in turn: keep the last item's prepared images.
        string key = item.ImagePaths.Count > 0 ? string.Join("\n", item.ImagePaths) : item.ImagePath ?? $"{item.Task}/{item.QuestionId}";
        if (key == _imageKey && _visual is not null) return _visual;
        if (item.ImagePaths.Count > 0) _visual = item.ImagePaths.Select(p => _pipeline.Prepare(ImageDecoder.Load(p), _aspect)).ToList();
        else
        {
            RgbImage image = Qwen2VlAnswerer.LoadImage(item);
            _visual = [_pipeline.Prepare(image, _aspect)];
        }
        _imageKey = key;
        return _visual;
    }

    /// <summary>Answers the item; a conversation item (with <see cref="EvalItem.Prior"/> turns) is answered
    /// turn by turn on one KV cache, the methods choosing their tokens from the first question.</summary>
    public ValueTask<Prediction> Answer(AnswerRequest request, CancellationToken cancel)
    {
        var item = request.Item;
        var method = _methods.Get(request.Method.Spec);
        var turns = item.Prior.Append(item).ToList();
        var visuals = Visuals(item);
        var first = LlavaPrompt.Build(_tokenizer, _template, turns[0].Prompt, _pipeline.Model.Config.ImageTokenIndex, visuals.Count);
        var followUps = turns.Skip(1).Select(t => LlavaPrompt.FollowUp(_tokenizer, _template, t.Prompt)).ToList();
        var options = new RunOptions
        {
            Reducer = method.Reducer, Pruner = method.Pruner, Aspect = _aspect, Seed = (ulong)(uint)request.Seed,
            Generation = new GenerationOptions { MaxNewTokens = _maxNewTokens, EosTokenId = _tokenizer.EosId, Seed = request.Seed },
        };
        var results = _pipeline.RunConversation(visuals, first.Ids, first.ImageSlots, followUps, options, ids => AnswerText.Decode(_tokenizer, ids), cancel: cancel);
        var predictions = results.Select(ToPrediction).ToList();
        return ValueTask.FromResult(predictions[^1] with { Earlier = predictions.Count > 1 ? predictions[..^1] : null });
    }

    static Prediction ToPrediction(RunResult result)
    {
        var r = result.Report;
        return new Prediction(result.Text ?? "", r.VisualTokens, r.PrefillMs, r.DecodeMs, r.TimeToFirstTokenMs,
            r.VisionFlops + r.ProjectorFlops + r.PrefillFlops, KeptSources.From(r), r.Attention == Numerics.AttentionMode.Eager ? "eager" : null);
    }
}
