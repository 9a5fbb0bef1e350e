using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using TokenSieve.Checkpoints;
using TokenSieve.Imaging;
using TokenSieve.Methods;
using TokenSieve.Models;
using TokenSieve.Pipeline;

namespace TokenSieve.AI;

/// <summary>An <see cref="IChatClient"/> over a model folder (LLaVA-1.5, LLaVA-NeXT, Video-LLaVA images,
/// Qwen2-VL), with per-request visual-token reduction. Images come as <see cref="DataContent"/> (or a
/// file: <see cref="UriContent"/>) in user messages, several per message and over several turns.
/// <c>ChatOptions</c> gives MaxOutputTokens, Temperature, TopP, Seed and StopSequences; its
/// AdditionalProperties <c>"tokensieve.reduce"</c> / <c>"tokensieve.prune"</c> pick the methods (specs as
/// `tokensieve methods` lists them). The response carries usage counts and, under
/// <c>"tokensieve.report"</c>, a <see cref="TokenSieveChatReport"/> (and the full <see cref="RunReport"/> under
/// <c>"tokensieve.run_report"</c>). The engine is single-stream: concurrent requests wait their turn.
/// Cancellation stops a request between vision layers, decoder layers (prefill) and decode steps.</summary>
public sealed class TokenSieveChatClient : IChatClient
{
    public const string ReduceKey = "tokensieve.reduce";
    public const string PruneKey = "tokensieve.prune";
    public const string ReportKey = "tokensieve.report";
    public const string RunReportKey = "tokensieve.run_report";

    readonly ChatEngine _engine;
    readonly TokenSieveChatClientOptions _options;
    readonly SemaphoreSlim _gate = new(1, 1);
    readonly Dictionary<(string?, string?), MethodPlan> _plans = new();
    bool _disposed;

    /// <summary>Loads the model in <paramref name="modelFolder"/> (its family read from config.json).
    /// Bad folders, configs or weights throw the library's typed exceptions naming the file.</summary>
    public TokenSieveChatClient(string modelFolder, TokenSieveChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        _options = options ?? new TokenSieveChatClientOptions();
        if (_options.DefaultMaxOutputTokens < 1) throw new InvalidInputException($"DefaultMaxOutputTokens must be >= 1, got {_options.DefaultMaxOutputTokens}");
        Plan(_options.Reduce, _options.Prune);
        ModelId = Path.GetFileName(Path.GetFullPath(modelFolder).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar));
        _engine = ChatEngine.Load(modelFolder, _options);
        Metadata = new ChatClientMetadata("tokensieve", new Uri(Path.GetFullPath(modelFolder)), ModelId);
    }

    /// <summary>The model folder's name, reported as the response's model id.</summary>
    public string ModelId { get; }

    /// <summary>The loaded model's family.</summary>
    public ModelKind Family => _engine.Kind;

    public ChatClientMetadata Metadata { get; }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var (run, answer) = await RunQueued(request, _ => { }, cancellationToken).ConfigureAwait(false);
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, answer.Answer) { MessageId = request.Id })
        {
            ResponseId = request.Id, ModelId = ModelId, CreatedAt = request.Created, FinishReason = Finish(run, answer, request),
            Usage = Usage(run.Report),
            AdditionalProperties = Properties(run.Report),
        };
        return response;
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        await foreach (var e in RunStreaming.Stream<string, (RunResult Run, AnswerStream Answer)>((emit, stop) => RunQueued(request, emit, stop), cancellationToken)
            .ConfigureAwait(false))
        {
            if (!e.IsFinal)
            {
                yield return Update(request, new TextContent(e.Item));
                continue;
            }
            var (run, answer) = e.Result;
            var last = Update(request, new UsageContent(Usage(run.Report)));
            last.FinishReason = Finish(run, answer, request);
            last.AdditionalProperties = Properties(run.Report);
            yield return last;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _engine.Dispose();
        _gate.Dispose();
    }

    sealed record Request(string Id, DateTimeOffset Created, ChatInput Input, RunOptions Run, IReadOnlyList<string> Stops, int MaxTokens);

    static ChatResponseUpdate Update(Request request, AIContent content) => new(ChatRole.Assistant, [content])
    {
        ResponseId = request.Id, MessageId = request.Id, CreatedAt = request.Created,
    };

    /// <summary>Everything checked before the request queues: messages, images, options, method specs.</summary>
    Request Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(messages);
        int maxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens;
        if (maxTokens < 1) throw new InvalidInputException($"ChatOptions.MaxOutputTokens must be >= 1, got {maxTokens}");
        float temperature = options?.Temperature ?? 0f, topP = options?.TopP ?? 1f;
        if (!(temperature >= 0) || !float.IsFinite(temperature)) throw new InvalidInputException($"ChatOptions.Temperature must be >= 0, got {temperature}");
        if (!(topP > 0 && topP <= 1)) throw new InvalidInputException($"ChatOptions.TopP must be in (0, 1], got {topP}");
        long seed = options?.Seed ?? 0;
        var plan = Plan(Property(options, ReduceKey) ?? _options.Reduce, Property(options, PruneKey) ?? _options.Prune);
        var input = ToInput(messages as IList<ChatMessage> ?? messages.ToList());
        var run = new RunOptions
        {
            Reducer = plan.Reducer, Pruner = plan.Pruner, Seed = (ulong)seed, Aspect = _options.Aspect,
            Generation = new GenerationOptions { MaxNewTokens = maxTokens, Temperature = temperature, TopP = topP, Seed = unchecked((int)seed) },
        };
        return new Request($"chatcmpl-{Guid.NewGuid():N}", DateTimeOffset.UtcNow, input, run, options?.StopSequences?.ToList() ?? [], maxTokens);
    }

    static string? Property(ChatOptions? options, string key)
    {
        if (options?.AdditionalProperties is not { } props || !props.TryGetValue(key, out var value) || value is null) return null;
        return value switch
        {
            string s => s,
            System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } e => e.GetString(),
            _ => throw new InvalidInputException($"ChatOptions.AdditionalProperties[\"{key}\"] must be a method spec string, got {value.GetType().Name}"),
        };
    }

    MethodPlan Plan(string? reduce, string? prune)
    {
        lock (_plans)
        {
            if (!_plans.TryGetValue((reduce, prune), out var plan)) _plans[(reduce, prune)] = plan = MethodPlan.FromOptions(reduce, prune);
            return plan;
        }
    }

    ChatInput ToInput(IList<ChatMessage> messages)
    {
        string? system = null;
        var turns = new List<ChatTurnInput>();
        for (int m = 0; m < messages.Count; m++)
        {
            var message = messages[m] ?? throw new InvalidInputException($"message {m} is null");
            if (message.Role == ChatRole.System)
            {
                if (turns.Count > 0) throw new InvalidInputException($"message {m}: a system message must come before the conversation");
                system = system is null ? message.Text : system + "\n" + message.Text;
                continue;
            }
            bool user = message.Role == ChatRole.User;
            if (!user && message.Role != ChatRole.Assistant)
                throw new InvalidInputException($"message {m}: role '{message.Role}' is not supported (system, user and assistant are)");
            var parts = new List<ChatPart>();
            for (int c = 0; c < message.Contents.Count; c++)
                if (ToPart(message.Contents[c], $"message {m}, content {c}", user) is { } part) parts.Add(part);
            if (user && turns.Count > 0 && turns[^1].FromUser) turns[^1] = turns[^1] with { Parts = [.. turns[^1].Parts, new ChatPart("\n", null), .. parts] };
            else if (!user && (turns.Count == 0 || !turns[^1].FromUser))
                throw new InvalidInputException($"message {m}: an assistant message must answer a user message");
            else turns.Add(new ChatTurnInput(user, parts));
        }
        if (turns.Count == 0 || !turns[^1].FromUser) throw new InvalidInputException("the conversation must end with a user message");
        return new ChatInput(system, turns);
    }

    ChatPart? ToPart(AIContent content, string where, bool user)
    {
        switch (content)
        {
            case TextContent text:
                return new ChatPart(text.Text ?? "", null);
            case DataContent data when data.HasTopLevelMediaType("image"):
                if (!user) throw new InvalidInputException($"{where}: images go in user messages");
                return Image(data.Data, data.Name ?? where);
            case UriContent uri when uri.HasTopLevelMediaType("image"):
                if (!user) throw new InvalidInputException($"{where}: images go in user messages");
                if (!uri.Uri.IsFile)
                    throw new InvalidInputException($"{where}: image URI '{TokenSieveException.Printable(uri.Uri.ToString())}' is not a file; TokenSieve fetches nothing, pass the bytes as DataContent");
                var info = new FileInfo(uri.Uri.LocalPath);
                if (!info.Exists) throw new ImageDecodeException(uri.Uri.LocalPath, "file not found");
                if (info.Length > _options.MaxImageBytes) throw new ImageDecodeException(uri.Uri.LocalPath, $"the file is {info.Length} bytes, over the {_options.MaxImageBytes}-byte image limit");
                return Image(File.ReadAllBytes(uri.Uri.LocalPath), uri.Uri.LocalPath);
            case DataContent data:
                throw new InvalidInputException($"{where}: media type '{data.MediaType}' is not supported (images only)");
            case UsageContent:
                return null;
            default:
                throw new InvalidInputException($"{where}: {content.GetType().Name} is not supported (text and images only)");
        }
    }

    ChatPart Image(ReadOnlyMemory<byte> bytes, string name)
    {
        if (bytes.Length > _options.MaxImageBytes) throw new ImageDecodeException(name, $"the image is {bytes.Length} bytes, over the {_options.MaxImageBytes}-byte limit");
        return new ChatPart(null, ImageDecoder.Decode(bytes.ToArray(), name), name);
    }

    /// <summary>Waits for the engine, then runs the request on a worker thread, handing each piece of
    /// final answer text to <paramref name="onText"/> as it is decoded.</summary>
    async Task<(RunResult Run, AnswerStream Answer)> RunQueued(Request request, Action<string> onText, CancellationToken cancel)
    {
        await _gate.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            return await Task.Run(() =>
            {
                var answer = new AnswerStream(request.Stops);
                void Emit(string s)
                {
                    if (s.Length > 0) onText(s);
                }
                var run = _engine.Run(request.Input, request.Run, piece =>
                {
                    Emit(answer.Push(piece));
                    return !answer.Stopped;
                }, rest => Emit(answer.Finish(rest)), cancel);
                return (run, answer);
            }, cancel).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    static ChatFinishReason Finish(RunResult run, AnswerStream answer, Request request) =>
        run.Generation.StoppedAtEos || answer.Stopped ? ChatFinishReason.Stop : ChatFinishReason.Length;

    static UsageDetails Usage(RunReport r) => new()
    {
        InputTokenCount = r.PromptTokens, OutputTokenCount = r.GeneratedTokens, TotalTokenCount = r.PromptTokens + r.GeneratedTokens,
        AdditionalCounts = new() { ["tokensieve.visual_tokens"] = r.VisualTokens, ["tokensieve.visual_tokens_before"] = r.VisualTokensBefore },
    };

    AdditionalPropertiesDictionary Properties(RunReport r) => new()
    {
        [ReportKey] = TokenSieveChatReport.From(r, ModelId, ModelFamily.ModelType(_engine.Kind)),
        [RunReportKey] = r,
    };
}
