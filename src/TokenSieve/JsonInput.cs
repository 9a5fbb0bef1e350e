using System.Text.Json;

namespace TokenSieve;

/// <summary>Reading untrusted JSON (safetensors headers, shard indexes, config files) without letting
/// an exception of the JSON library escape: strings with invalid UTF-8 or lone surrogate escapes
/// (<c>"\ud800"</c>) make <see cref="JsonElement.GetString"/> and <see cref="JsonProperty.Name"/>
/// throw <see cref="InvalidOperationException"/>; these helpers turn that into
/// <c>null</c> so the caller can raise its own typed error naming the file and field.</summary>
internal static class JsonInput
{
    /// <summary>JSON files read whole into memory (config.json, preprocessor_config.json, the shard
    /// index) may be at most this large. Real ones are a few KiB (a 405B model's index is about
    /// 2 MiB); the bound keeps a mistaken path to a multi-GB file from being read into memory.</summary>
    public const int MaxJsonFileBytes = 64 * 1024 * 1024;

    /// <summary>Nesting deeper than this is refused by the parser (real configs nest 3 levels).</summary>
    public const int MaxDepth = 64;

    /// <summary>The string value, or null when <paramref name="e"/> is not a string or is not
    /// valid Unicode (invalid UTF-8, lone surrogate escapes).</summary>
    public static string? TryGetString(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.String) return null;
        try
        {
            return e.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The property name, or null when it is not valid Unicode.</summary>
    public static string? TryGetName(JsonProperty p)
    {
        try
        {
            return p.Name;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The properties of an object by name. <see cref="JsonElement.TryGetProperty(string, out JsonElement)"/>
    /// unescapes every name it compares and throws on a lone surrogate, so untrusted objects are read
    /// through this: a name that is not valid Unicode or that appears twice raises the exception made
    /// by <paramref name="error"/> (the name, or null when unreadable; the reason).</summary>
    public static Dictionary<string, JsonElement> Properties(JsonElement obj, Func<string?, string, Exception> error)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            string name = TryGetName(p) ?? throw error(null, "a key is not valid UTF-8 / Unicode");
            if (!result.TryAdd(name, p.Value)) throw error(name, "the key appears twice");
        }
        return result;
    }

    /// <summary>Text of a value for an error message, at most <paramref name="max"/> characters and
    /// never throwing (the raw JSON is shown with invalid sequences replaced).</summary>
    public static string Show(JsonElement e, int max = 60)
    {
        string text;
        try
        {
            text = e.GetRawText();
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            text = "(unreadable value)";
        }
        return text.Length <= max ? text : text[..max] + "…";
    }

    /// <summary>Reads a small JSON file whole: missing, unreadable, too large or not JSON raise the
    /// exception made by <paramref name="error"/> (reason, inner).</summary>
    public static JsonDocument ParseFile(string path, Func<string, Exception?, Exception> error, bool allowComments = false)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw error("file not found", null);
            if (info.Length > MaxJsonFileBytes)
                throw error($"the file is {info.Length} bytes, over the {MaxJsonFileBytes}-byte limit for a JSON file (real ones are a few KiB)", null);
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error($"cannot read the file ({e.Message})", e);
        }
        return Parse(bytes, error, allowComments);
    }

    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, Func<string, Exception?, Exception> error, bool allowComments = false)
    {
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions
            {
                CommentHandling = allowComments ? JsonCommentHandling.Skip : JsonCommentHandling.Disallow,
                MaxDepth = MaxDepth,
            });
        }
        catch (JsonException e)
        {
            throw error($"not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>An integer written as a JSON integer literal (no fraction, no exponent) that fits
    /// in a long; null otherwise (<c>16.0</c>, <c>1e9</c>, <c>1e20</c>, strings, …).</summary>
    public static long? TryGetInteger(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Number) return null;
        string raw = e.GetRawText();
        foreach (char ch in raw)
            if (ch is '.' or 'e' or 'E') return null;
        return e.TryGetInt64(out long v) ? v : null;
    }
}
