using System.Text.Json;
using Microsoft.Extensions.AI;
using TokenSieve.AI;

namespace TokenSieve.Serve;

/// <summary>A request body that is not a valid chat completion request: a 400 naming the field.</summary>
public sealed class BadRequestException(string param, string message) : TokenSieveException($"{param}: {message}")
{
    public string Param { get; } = param;
}

/// <summary>Reads an OpenAI chat completion request into messages and <see cref="ChatOptions"/>: text and
/// <c>image_url</c> parts (data: URIs; http(s) only when allowed), max_tokens / max_completion_tokens,
/// temperature, top_p, seed, stop, stream, and TokenSieve's own <c>reduce</c> / <c>prune</c>.</summary>
public sealed class ChatRequestReader(ServeOptions options, HttpClient? remote)
{
    public sealed record Parsed(List<ChatMessage> Messages, ChatOptions Options, bool Stream, string? Model);

    public async Task<Parsed> ReadAsync(JsonElement root, CancellationToken cancel)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new BadRequestException("body", "expected a JSON object");
        if (!root.TryGetProperty("messages", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            throw new BadRequestException("messages", "a non-empty array is required");
        var messages = new List<ChatMessage>();
        int m = 0;
        foreach (var item in list.EnumerateArray())
        {
            messages.Add(await Message(item, $"messages[{m}]", cancel));
            m++;
        }
        var chat = new ChatOptions
        {
            MaxOutputTokens = Int(root, "max_completion_tokens") ?? Int(root, "max_tokens"),
            Temperature = Float(root, "temperature"),
            TopP = Float(root, "top_p"),
            Seed = Int(root, "seed"),
            AdditionalProperties = new(),
        };
        if (root.TryGetProperty("stop", out var stop) && stop.ValueKind != JsonValueKind.Null)
            chat.StopSequences = stop.ValueKind switch
            {
                JsonValueKind.String => [stop.GetString()!],
                JsonValueKind.Array => stop.EnumerateArray().Select((s, i) => s.ValueKind == JsonValueKind.String ? s.GetString()!
                    : throw new BadRequestException($"stop[{i}]", "expected a string")).ToList(),
                _ => throw new BadRequestException("stop", "expected a string or an array of strings"),
            };
        if (String(root, "reduce") is { } reduce) chat.AdditionalProperties[TokenSieveChatClient.ReduceKey] = reduce;
        if (String(root, "prune") is { } prune) chat.AdditionalProperties[TokenSieveChatClient.PruneKey] = prune;
        bool stream = root.TryGetProperty("stream", out var s) && s.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw new BadRequestException("stream", "expected true or false"),
        };
        if (root.TryGetProperty("n", out var n) && n.ValueKind == JsonValueKind.Number && n.GetInt32() != 1)
            throw new BadRequestException("n", "only one choice per request");
        return new Parsed(messages, chat, stream, String(root, "model"));
    }

    async Task<ChatMessage> Message(JsonElement item, string where, CancellationToken cancel)
    {
        if (item.ValueKind != JsonValueKind.Object) throw new BadRequestException(where, "expected an object");
        string role = String(item, "role", where) ?? throw new BadRequestException($"{where}.role", "required");
        var chatRole = role switch
        {
            "system" or "developer" => ChatRole.System,
            "user" => ChatRole.User,
            "assistant" => ChatRole.Assistant,
            _ => throw new BadRequestException($"{where}.role", $"'{TokenSieveException.Printable(role)}' is not supported (system, user, assistant)"),
        };
        if (!item.TryGetProperty("content", out var content)) throw new BadRequestException($"{where}.content", "required");
        var contents = new List<AIContent>();
        if (content.ValueKind == JsonValueKind.String) contents.Add(new TextContent(content.GetString()));
        else if (content.ValueKind == JsonValueKind.Array)
        {
            int p = 0;
            foreach (var part in content.EnumerateArray())
            {
                contents.Add(await Part(part, $"{where}.content[{p}]", cancel));
                p++;
            }
        }
        else throw new BadRequestException($"{where}.content", "expected a string or an array of parts");
        return new ChatMessage(chatRole, contents);
    }

    async Task<AIContent> Part(JsonElement part, string where, CancellationToken cancel)
    {
        if (part.ValueKind != JsonValueKind.Object) throw new BadRequestException(where, "expected an object");
        string type = String(part, "type", where) ?? throw new BadRequestException($"{where}.type", "required");
        switch (type)
        {
            case "text":
                return new TextContent(String(part, "text", where) ?? throw new BadRequestException($"{where}.text", "required"));
            case "image_url":
                if (!part.TryGetProperty("image_url", out var image)) throw new BadRequestException($"{where}.image_url", "required");
                string? url = image.ValueKind == JsonValueKind.String ? image.GetString() : String(image, "url", $"{where}.image_url");
                if (url is null) throw new BadRequestException($"{where}.image_url.url", "required");
                return await Image(url, $"{where}.image_url.url", cancel);
            default:
                throw new BadRequestException($"{where}.type", $"'{TokenSieveException.Printable(type)}' is not supported (text, image_url)");
        }
    }

    async Task<AIContent> Image(string url, string where, CancellationToken cancel)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = url.IndexOf(',');
            if (comma < 0 || !url.AsSpan(0, comma).EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw new BadRequestException(where, "a data: URI must be data:image/...;base64,...");
            string mediaType = url[5..url.IndexOf(';')];
            if (!mediaType.StartsWith("image/", StringComparison.OrdinalIgnoreCase)) throw new BadRequestException(where, $"media type '{TokenSieveException.Printable(mediaType)}' is not an image");
            long size = (url.Length - comma - 1) / 4L * 3;
            if (size > options.MaxImageBytes) throw new PayloadTooLargeException($"{where}: the image is about {size} bytes, over the {options.MaxImageBytes}-byte limit");
            byte[] bytes;
            try { bytes = Convert.FromBase64String(url[(comma + 1)..]); }
            catch (FormatException) { throw new BadRequestException(where, "the base64 data is malformed"); }
            return new DataContent(bytes, mediaType) { Name = where };
        }
        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (remote is null) throw new BadRequestException(where, "remote image URLs are refused; send the image as a data: URI or start the server with --allow-remote-images");
            using var response = await remote.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode) throw new BadRequestException(where, $"fetching the image gave HTTP {(int)response.StatusCode}");
            if (response.Content.Headers.ContentLength > options.MaxImageBytes) throw new PayloadTooLargeException($"{where}: the image is over the {options.MaxImageBytes}-byte limit");
            await using var stream = await response.Content.ReadAsStreamAsync(cancel);
            var buffer = new MemoryStream();
            var chunk = new byte[81920];
            for (int read; (read = await stream.ReadAsync(chunk, cancel)) > 0;)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > options.MaxImageBytes) throw new PayloadTooLargeException($"{where}: the image is over the {options.MaxImageBytes}-byte limit");
            }
            return new DataContent(buffer.ToArray(), response.Content.Headers.ContentType?.MediaType ?? "image/*") { Name = url };
        }
        throw new BadRequestException(where, "expected a data:image/...;base64 URI" + (remote is null ? "" : " or an http(s) URL"));
    }

    static string? String(JsonElement obj, string name, string? where = null)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new BadRequestException(where is null ? name : $"{where}.{name}", "expected a string");
    }

    static int? Int(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new BadRequestException(name, "expected an integer");
    }

    static float? Float(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Number ? v.GetSingle() : throw new BadRequestException(name, "expected a number");
    }
}

/// <summary>A request or image over the configured size limits: a 413.</summary>
public sealed class PayloadTooLargeException(string message) : TokenSieveException(message);
