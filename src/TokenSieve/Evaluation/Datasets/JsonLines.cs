using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>Shared pieces of the dataset readers: JSON-lines iteration that reports and skips bad lines,
/// whole-file JSON loading with typed errors, and lenient field access (ids may be numbers or strings).</summary>
internal static class JsonLines
{
    /// <summary>Each non-blank line parsed as a JSON object, with its 1-based line number. Lines that
    /// are not valid JSON objects are added to <paramref name="issues"/> and skipped.</summary>
    public static IEnumerable<(int Line, JsonElement Value)> Read(string path, List<ReadIssue> issues, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new DatasetException(path, "file not found");
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            ct.ThrowIfCancellationRequested();
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement value;
            try
            {
                using var doc = JsonDocument.Parse(line);
                value = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                issues.Add(new ReadIssue(path, lineNo, $"not valid JSON ({e.Message.Split('.')[0]})"));
                continue;
            }
            if (value.ValueKind != JsonValueKind.Object)
            {
                issues.Add(new ReadIssue(path, lineNo, $"expected a JSON object, found {value.ValueKind}"));
                continue;
            }
            yield return (lineNo, value);
        }
    }

    /// <summary>Loads a whole JSON file; a file that does not parse is a <see cref="DatasetException"/>.</summary>
    public static JsonElement LoadDocument(string path)
    {
        if (!File.Exists(path)) throw new DatasetException(path, "file not found");
        try
        {
            using var stream = File.OpenRead(path);
            using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new DatasetException(path, $"not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>A string or number field as text; null when absent, null or another kind.</summary>
    public static string? Text(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => null,
        };
    }

    /// <summary>The first of <paramref name="names"/> present as text.</summary>
    public static string? Text(JsonElement obj, params string[] names)
    {
        foreach (var n in names) if (Text(obj, n) is { } s) return s;
        return null;
    }

    /// <summary>An array of strings (numbers are converted); null when absent or not an array.</summary>
    public static List<string>? Strings(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array) return null;
        var list = new List<string>();
        foreach (var e in v.EnumerateArray())
            list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText());
        return list;
    }

    public static IReadOnlyDictionary<string, string> Settings(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => p.Value);
}
