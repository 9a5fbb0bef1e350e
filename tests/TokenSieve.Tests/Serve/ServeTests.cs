using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using TokenSieve.AI;
using TokenSieve.Serve;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Serve;

/// <summary>`tokensieve serve` end to end: a real Kestrel listener on a free loopback port and a real
/// HttpClient, over the llava-tiny fixture (and a gated stand-in client for the queue, so no test waits on time).</summary>
public sealed class ServeTests
{
    static string DataUri(string file) => "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(file));

    static JsonObject Request(string question, string image, bool stream = false, int maxTokens = 8) => new()
    {
        ["model"] = "llava-tiny",
        ["messages"] = new JsonArray(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(
                new JsonObject { ["type"] = "text", ["text"] = question },
                new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = image } }),
        }),
        ["max_tokens"] = maxTokens,
        ["stream"] = stream,
    };

    static StringContent Body(JsonNode json) => new(json.ToJsonString(), Encoding.UTF8, "application/json");

    static async Task<(ChatServer Server, HttpClient Http)> Start(IChatClient client, ServeOptions? options = null)
    {
        var server = await ChatServer.StartAsync(client, "llava-tiny", (options ?? new ServeOptions()) with { Port = 0 });
        return (server, new HttpClient { BaseAddress = new Uri(server.Address) });
    }

    [Fact]
    public async Task Chat_completions_answer_with_usage_and_report_streaming_and_not()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var (server, http) = await Start(client);
        await using var running = server;
        using var httpClient = http;
        Assert.StartsWith("http://127.0.0.1:", server.Address);

        var models = await http.GetFromJsonAsync<JsonObject>("/v1/models");
        Assert.Equal("llava-tiny", models!["data"]![0]!["id"]!.GetValue<string>());

        string image = DataUri(TestData.Path("llava-tiny", "image.png"));
        var request = Request("what is in the image?", image);
        request["reduce"] = "pool:16";
        using var response = await http.PostAsync("/v1/chat/completions", Body(request));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("chat.completion", json["object"]!.GetValue<string>());
        string text = json["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.False(string.IsNullOrEmpty(text));
        Assert.Equal(16, json["tokensieve_report"]!["visual_tokens"]!.GetValue<int>());
        Assert.Equal(json["usage"]!["prompt_tokens"]!.GetValue<int>(), json["tokensieve_report"]!["prompt_tokens"]!.GetValue<int>());

        request["stream"] = true;
        using var streamed = await http.PostAsync("/v1/chat/completions", Body(request), default);
        Assert.Equal("text/event-stream", streamed.Content.Headers.ContentType!.MediaType);
        var events = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var pieces = chunks.Select(c => c["choices"]![0]!["delta"]!["content"]?.GetValue<string>()).Where(p => p is not null).ToList();
        Assert.True(pieces.Count > 1, "one chunk only");
        Assert.Equal(text, string.Concat(pieces));
        Assert.Equal("length", chunks[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(16, chunks[^1]["tokensieve_report"]!["visual_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Bad_requests_get_one_json_error_naming_the_field()
    {
        using var client = new TokenSieveChatClient(TestData.LlavaTiny, new TokenSieveChatClientOptions { Threads = 1 });
        var (server, http) = await Start(client, new ServeOptions { MaxImageBytes = 1000, MaxRequestBytes = 64 << 10 });
        await using var running = server;
        using var httpClient = http;
        // The server answers an oversized request from its Content-Length, without reading the body, and
        // closes the connection; a client still sending the body may then see a reset instead of the 413.
        // With Expect: 100-continue (as curl sends for large bodies) the body is never sent.
        http.DefaultRequestHeaders.ExpectContinue = true;
        async Task<(HttpStatusCode Status, JsonNode Error)> Post(string body)
        {
            using var r = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            return (r.StatusCode, JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!);
        }
        var (status, error) = await Post("{not json");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("body", error["param"]!.GetValue<string>());
        (status, error) = await Post(Request("q", "https://example.invalid/cat.png").ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("--allow-remote-images", error["message"]!.GetValue<string>());
        (status, _) = await Post(Request("q", DataUri(TestData.Path("llava-tiny", "image.png"))).ToJsonString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        (status, _) = await Post(Request(new string('x', 70_000), "data:image/png;base64,AAAA").ToJsonString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        var badSpec = Request("q", "data:image/png;base64," + Convert.ToBase64String(new byte[8]));
        badSpec["prune"] = "nosuch:1";
        (status, error) = await Post(badSpec.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("nosuch", error["message"]!.GetValue<string>());
        var noMessages = await http.PostAsync("/v1/chat/completions", Body(new JsonObject { ["messages"] = new JsonArray() }));
        Assert.Equal(HttpStatusCode.BadRequest, noMessages.StatusCode);
    }

    [Fact]
    public async Task A_full_queue_answers_429_and_queued_requests_finish_on_shutdown()
    {
        var gate = new GatedClient();
        var (server, http) = await Start(gate, new ServeOptions { MaxQueue = 1 });
        using var __ = http;
        var body = Request("q", "data:image/png;base64,AAAA").ToJsonString();
        Task<HttpResponseMessage> Post() => http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var running = Post();
        await gate.Entered.Task;
        var queued = Post();
        while (server.InFlight < 2) await Task.Delay(5);
        using var refused = await Post();
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("rate_limit_exceeded", JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!["type"]!.GetValue<string>());
        // Stopping lets the running and the queued request finish.
        var stopping = server.StopAsync();
        gate.Release.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
        await stopping;
        await server.DisposeAsync();
    }

    /// <summary>A stand-in model whose requests block until released, one at a time like the engine.</summary>
    sealed class GatedClient : IChatClient
    {
        readonly SemaphoreSlim _one = new(1, 1);
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            await _one.WaitAsync(cancellationToken);
            try
            {
                Entered.TrySetResult();
                await Release.Task;
                return new ChatResponse(new ChatMessage(ChatRole.Assistant, "ok"));
            }
            finally
            {
                _one.Release();
            }
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var r = await GetResponseAsync(messages, options, cancellationToken);
            yield return new ChatResponseUpdate(ChatRole.Assistant, r.Text);
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
        public void Dispose() { }
    }
}
