using System.Diagnostics;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.AI;

/// <summary>One part of a chat turn: text, or a decoded image (with a name for error messages).</summary>
internal sealed record ChatPart(string? Text, RgbImage? Image, string? ImageName = null);

/// <summary>A user or assistant turn of the conversation, its parts in order.</summary>
internal sealed record ChatTurnInput(bool FromUser, IReadOnlyList<ChatPart> Parts)
{
    public string Text => string.Concat(Parts.Where(p => p.Text is not null).Select(p => p.Text));
}

/// <summary>The conversation as the engines take it: an optional system prompt and the turns.</summary>
internal sealed record ChatInput(string? System, IReadOnlyList<ChatTurnInput> Turns);

/// <summary>A model family behind the chat client: turns a conversation into the family's prompt and
/// images, runs its pipeline, and hands each generated id's text to <c>onText</c> as it is decoded
/// (returning false ends generation). The pipeline does the work; this only adapts.</summary>
internal abstract class ChatEngine : IDisposable
{
    public abstract ModelKind Kind { get; }
    public abstract RunResult Run(ChatInput input, RunOptions options, Func<string, bool> onText, Action<string> onFlush, CancellationToken cancel);
    public abstract void Dispose();

    public static ChatEngine Load(string folder, TokenSieveChatClientOptions options)
    {
        var load = new ModelLoadOptions { AllowUnknownConfigKeys = options.AllowUnknownConfigKeys };
        var compute = new ComputeContext(options.Threads);
        if (options.Mmproj is { } mmproj)
            return new LlavaChatEngine(LlavaModel.LoadGgufPair(folder, mmproj, load with { Compute = compute }), compute, ChatTemplate.Get(options.Template), options.Aspect);
        var kind = ModelFamily.Detect(folder);
        return kind == ModelKind.Qwen2Vl
            ? new Qwen2VlChatEngine(Qwen2VlModel.Load(folder, load), compute)
            : new LlavaChatEngine(LlavaModel.Load(folder, load), compute, ChatTemplate.Get(options.Template), options.Aspect);
    }
}

/// <summary>LLaVA-1.5, LLaVA-NeXT and Video-LLaVA (images only): the chosen template, a user turn's images
/// as placeholders before its text, a system message replacing the template's system prompt.</summary>
internal sealed class LlavaChatEngine(LlavaModel model, ComputeContext compute, ChatTemplate template, AspectMode aspect) : ChatEngine
{
    readonly LlavaPipeline _pipeline = new(model, compute);
    readonly SentencePieceBpeTokenizer _tokenizer = model.CreateTokenizer();

    public override ModelKind Kind => model.Config.Variant switch
    {
        LlavaVariant.LlavaNext => ModelKind.LlavaNext,
        LlavaVariant.VideoLlava => ModelKind.VideoLlava,
        _ => ModelKind.Llava,
    };

    public override RunResult Run(ChatInput input, RunOptions options, Func<string, bool> onText, Action<string> onFlush, CancellationToken cancel)
    {
        var tpl = input.System is null ? template : template with { SystemPrompt = input.System };
        var turns = new List<ChatTurn>();
        var imagesPerTurn = new List<int>();
        var images = new List<(RgbImage Image, string? Name)>();
        foreach (var turn in input.Turns)
        {
            if (!turn.FromUser)
            {
                turns[^1] = turns[^1] with { Assistant = turn.Text };
                continue;
            }
            // LLaVA was trained with a turn's images before its text ("<image>\n" + question), so they go
            // first whatever order the message lists them in (OpenAI clients usually put the text first).
            var text = new System.Text.StringBuilder();
            int count = 0;
            foreach (var part in turn.Parts.Where(p => p.Image is not null))
            {
                text.Append(ChatTemplate.ImagePlaceholder).Append('\n');
                images.Add((part.Image!, part.ImageName));
                count++;
            }
            foreach (var part in turn.Parts.Where(p => p.Image is null)) text.Append(part.Text);
            turns.Add(new ChatTurn(text.ToString()));
            imagesPerTurn.Add(count);
        }
        var prompt = LlavaPrompt.Build(_tokenizer, tpl, turns, model.Config.ImageTokenIndex, imagesPerTurn);
        var sw = Stopwatch.StartNew();
        var visuals = images.Select(i => _pipeline.Prepare(i.Image, aspect)).ToList();
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        var decoder = new IncrementalDecoder(_tokenizer);
        // Ids past the tokenizer's vocabulary (llava-hf pads lm_head) have no text, as in AnswerText.
        var generation = options.Generation with
        {
            EosTokenId = options.Generation.EosTokenId ?? _tokenizer.EosId,
            OnToken = id => id < 0 || id >= _tokenizer.VocabSize || onText(decoder.Add(id)),
        };
        var result = _pipeline.Run(visuals, prompt.Ids, prompt.ImageSlots, options with { Aspect = aspect, Generation = generation }, null, preprocessMs, cancel);
        onFlush(decoder.Flush());
        return result;
    }

    public override void Dispose() => model.Dispose();
}

/// <summary>Qwen2-VL: its chat template with images and text in message order, system message included.</summary>
internal sealed class Qwen2VlChatEngine(Qwen2VlModel model, ComputeContext compute) : ChatEngine
{
    readonly Qwen2VlPipeline _pipeline = new(model, compute);
    readonly Qwen2Tokenizer _tokenizer = Qwen2Tokenizer.FromFolder(model.Directory);

    public override ModelKind Kind => ModelKind.Qwen2Vl;

    public override RunResult Run(ChatInput input, RunOptions options, Func<string, bool> onText, Action<string> onFlush, CancellationToken cancel)
    {
        var messages = new List<Qwen2VlMessage>();
        if (input.System is not null) messages.Add(Qwen2VlMessage.System(input.System));
        var sw = Stopwatch.StartNew();
        var images = new List<Qwen2VlImagePatches>();
        foreach (var turn in input.Turns)
        {
            if (!turn.FromUser)
            {
                messages.Add(Qwen2VlMessage.Assistant(turn.Text));
                continue;
            }
            var parts = new List<Qwen2VlPart>();
            foreach (var part in turn.Parts)
            {
                if (part.Image is { } image)
                {
                    images.Add(_pipeline.Prepare(image, part.ImageName));
                    parts.Add(Qwen2VlPart.Image);
                }
                else parts.Add(Qwen2VlPart.FromText(part.Text!));
            }
            messages.Add(Qwen2VlMessage.User([.. parts]));
        }
        double preprocessMs = sw.Elapsed.TotalMilliseconds;
        var ids = Qwen2VlPrompt.Build(_tokenizer, messages).Ids;
        var decoder = new Qwen2IncrementalDecoder(_tokenizer, skipSpecialTokens: true);
        var generation = options.Generation with
        {
            EosTokenId = options.Generation.EosTokenId ?? (_tokenizer.EosId >= 0 ? _tokenizer.EosId : null),
            OnToken = id => !_tokenizer.CanDecode(id) || onText(decoder.Add(id)),
        };
        var result = _pipeline.Run(images, ids, options with { Generation = generation }, null, preprocessMs, cancel);
        onFlush(decoder.Flush());
        return result;
    }

    public override void Dispose() => model.Dispose();
}
