using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TokenSieve.AI;

namespace TokenSieve.Serve;

/// <summary>A local OpenAI-compatible endpoint over one <see cref="IChatClient"/> (one model, loaded once):
/// <c>POST /v1/chat/completions</c> (JSON or, with <c>stream: true</c>, server-sent events) and
/// <c>GET /v1/models</c>. The engine runs one request at a time; up to <see cref="ServeOptions.MaxQueue"/> more
/// wait, and further ones get 429 at once. Stopping (Ctrl-C, SIGTERM, <see cref="StopAsync"/>) refuses new
/// connections and lets the running and queued requests finish within <see cref="ServeOptions.ShutdownTimeout"/>.</summary>
public sealed class ChatServer : IAsyncDisposable
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    readonly WebApplication _app;
    readonly IChatClient _client;
    readonly string _modelId;
    readonly ServeOptions _options;
    readonly ChatRequestReader _reader;
    readonly HttpClient? _remote;
    int _admitted;

    ChatServer(IChatClient client, string modelId, ServeOptions options)
    {
        _client = client;
        _modelId = modelId;
        _options = options;
        _remote = options.AllowRemoteImages ? new HttpClient { Timeout = TimeSpan.FromSeconds(30) } : null;
        _reader = new ChatRequestReader(options, _remote);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            if (!System.Net.IPAddress.TryParse(options.Host, out var ip))
            {
                if (options.Host != "localhost") throw new InvalidInputException($"--host must be an IP address or localhost, got '{TokenSieveException.Printable(options.Host)}'");
                ip = System.Net.IPAddress.Loopback;
            }
            k.Listen(ip, options.Port);
        });
        _app = builder.Build();
        _app.MapGet("/v1/models", () => Results.Text(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(new JsonObject { ["id"] = _modelId, ["object"] = "model", ["created"] = 0, ["owned_by"] = "tokensieve" }),
        }.ToJsonString(), "application/json"));
        _app.MapPost("/v1/chat/completions", Complete);
        _app.MapFallback(context => Error(context, 404, "not_found", null, $"no route {context.Request.Method} {context.Request.Path}; the endpoints are POST /v1/chat/completions and GET /v1/models"));
    }

    /// <summary>Starts listening; <see cref="Address"/> then holds the bound address.</summary>
    public static async Task<ChatServer> StartAsync(IChatClient client, string modelId, ServeOptions options, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        var server = new ChatServer(client, modelId, options);
        await server._app.StartAsync(cancel);
        return server;
    }

    /// <summary>The address the server listens on, e.g. <c>http://127.0.0.1:8000</c>.</summary>
    public string Address => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Requests running or waiting.</summary>
    public int InFlight => Volatile.Read(ref _admitted);

    /// <summary>Completes when the host has stopped (after Ctrl-C, SIGTERM or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    /// <summary>Cancelled when stopping begins: new connections are refused, requests in flight go on.</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _remote?.Dispose();
    }

    async Task Complete(HttpContext context)
    {
        if (Interlocked.Increment(ref _admitted) > _options.MaxQueue + 1)
        {
            Interlocked.Decrement(ref _admitted);
            context.Response.Headers.RetryAfter = "1";
            await Error(context, 429, "rate_limit_exceeded", null, $"the server is busy: one request running and {_options.MaxQueue} waiting; retry later");
            return;
        }
        try
        {
            await Handle(context);
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
        }
    }

    async Task Handle(HttpContext context)
    {
        var cancel = context.RequestAborted;
        ChatRequestReader.Parsed request;
        try
        {
            if (context.Request.ContentLength > _options.MaxRequestBytes)
                throw new PayloadTooLargeException($"the request is {context.Request.ContentLength} bytes, over the {_options.MaxRequestBytes}-byte limit");
            JsonDocument doc;
            try { doc = await JsonDocument.ParseAsync(context.Request.Body, default, cancel); }
            catch (JsonException e) { throw new BadRequestException("body", $"not valid JSON ({e.Message})"); }
            catch (BadHttpRequestException e) when (e.StatusCode == 413) { throw new PayloadTooLargeException($"the request is over the {_options.MaxRequestBytes}-byte limit"); }
            using (doc) request = await _reader.ReadAsync(doc.RootElement, cancel);
        }
        catch (TokenSieveException e)
        {
            await Fail(context, e);
            return;
        }
        string id = $"chatcmpl-{Guid.NewGuid():N}";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!request.Stream)
        {
            ChatResponse response;
            try { response = await _client.GetResponseAsync(request.Messages, request.Options, cancel); }
            catch (TokenSieveException e) { await Fail(context, e); return; }
            var body = new JsonObject
            {
                ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = _modelId,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = response.Text },
                    ["finish_reason"] = Finish(response.FinishReason),
                }),
                ["usage"] = Usage(response.Usage),
            };
            if (Report(response.AdditionalProperties) is { } report) body["tokensieve_report"] = report;
            await Results.Text(body.ToJsonString(), "application/json").ExecuteAsync(context);
            return;
        }

        // Server-sent events: the headers go out with the first chunk, so an error before it is still a
        // plain JSON error; one after it ends the stream with an error event.
        bool started = false;
        async Task Send(JsonObject chunk)
        {
            if (!started)
            {
                context.Response.ContentType = "text/event-stream";
                context.Response.Headers.CacheControl = "no-cache";
                started = true;
            }
            await context.Response.WriteAsync($"data: {chunk.ToJsonString()}\n\n", cancel);
            await context.Response.Body.FlushAsync(cancel);
        }
        JsonObject Chunk(JsonObject delta, string? finish) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = _modelId,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
        try
        {
            bool first = true;
            // The OpenAI stream opens with the role; content follows piece by piece as it is decoded.
            await Send(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null));
            first = false;
            await foreach (var update in _client.GetStreamingResponseAsync(request.Messages, request.Options, cancel))
            {
                if (update.Text.Length > 0)
                {
                    var delta = new JsonObject { ["content"] = update.Text };
                    if (first) delta["role"] = "assistant";
                    first = false;
                    await Send(Chunk(delta, null));
                }
                if (update.FinishReason is { } reason)
                {
                    var last = Chunk(new JsonObject(), Finish(reason));
                    if (update.Contents.OfType<UsageContent>().FirstOrDefault() is { } usage) last["usage"] = Usage(usage.Details);
                    if (Report(update.AdditionalProperties) is { } report) last["tokensieve_report"] = report;
                    await Send(last);
                }
            }
            await context.Response.WriteAsync("data: [DONE]\n\n", cancel);
        }
        catch (TokenSieveException e)
        {
            if (!started) { await Fail(context, e); return; }
            await context.Response.WriteAsync($"data: {ErrorBody("invalid_request_error", null, e.Message).ToJsonString()}\n\n", cancel);
        }
    }

    static string Finish(ChatFinishReason? reason) => reason == ChatFinishReason.Length ? "length" : "stop";

    static JsonObject? Usage(UsageDetails? usage) => usage is null ? null : new JsonObject
    {
        ["prompt_tokens"] = usage.InputTokenCount, ["completion_tokens"] = usage.OutputTokenCount, ["total_tokens"] = usage.TotalTokenCount,
    };

    static JsonNode? Report(AdditionalPropertiesDictionary? properties) =>
        properties is not null && properties.TryGetValue(TokenSieveChatClient.ReportKey, out var report) && report is not null
            ? JsonSerializer.SerializeToNode(report, report.GetType(), Json) : null;

    static Task Fail(HttpContext context, TokenSieveException e) => e switch
    {
        PayloadTooLargeException => Error(context, 413, "request_too_large", null, e.Message),
        BadRequestException bad => Error(context, 400, "invalid_request_error", bad.Param, e.Message),
        _ => Error(context, 400, "invalid_request_error", null, e.Message),
    };

    static JsonObject ErrorBody(string type, string? param, string message) =>
        new() { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = null } };

    static Task Error(HttpContext context, int status, string type, string? param, string message)
    {
        context.Response.StatusCode = status;
        return Results.Text(ErrorBody(type, param, message).ToJsonString(), "application/json", statusCode: status).ExecuteAsync(context);
    }
}
