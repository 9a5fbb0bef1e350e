using System.Text;
using System.Text.Json;

namespace TokenSieve.Text;

/// <summary>An added token of <c>tokenizer_config.json</c>'s <c>added_tokens_decoder</c> (or
/// <c>tokenizer.json</c>'s <c>added_tokens</c>): matched as an exact string before BPE.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special, bool LStrip, bool RStrip);

/// <summary>What a Qwen2 tokenizer is built from, read from a Hugging Face folder.</summary>
internal sealed record Qwen2TokenizerData(
    Dictionary<string, int> Vocab, List<(string Left, string Right)> Merges, List<int> MergeLines,
    List<AddedToken> AddedTokens, string? EosToken, string? PadToken, string VocabSource, string MergesSource);

/// <summary>Reads <c>vocab.json</c> + <c>merges.txt</c> (+ <c>tokenizer_config.json</c>), or a single
/// <c>tokenizer.json</c>, as transformers' slow <c>Qwen2Tokenizer</c> / the fast one would, with a
/// <see cref="TokenizerException"/> naming the file and the entry for anything unusable.</summary>
internal static class Qwen2TokenizerFiles
{
    /// <summary>The regex of Qwen2's pre-tokenizer as tokenizer.json spells it; <see cref="Qwen2PreTokenizer"/>
    /// implements exactly this one.</summary>
    public const string PreTokenizerPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static Qwen2TokenizerData LoadFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new TokenizerException($"{folder}: tokenizer folder not found");
        string vocabPath = Path.Combine(folder, "vocab.json"), mergesPath = Path.Combine(folder, "merges.txt");
        string configPath = Path.Combine(folder, "tokenizer_config.json"), fastPath = Path.Combine(folder, "tokenizer.json");
        bool hasVocab = File.Exists(vocabPath), hasMerges = File.Exists(mergesPath);
        if (hasVocab && hasMerges) return LoadVocabAndMerges(vocabPath, mergesPath, File.Exists(configPath) ? configPath : null);
        if (File.Exists(fastPath)) return LoadTokenizerJson(fastPath, File.Exists(configPath) ? configPath : null);
        string missing = hasVocab ? mergesPath : vocabPath;
        throw new TokenizerException($"{missing}: file not found (a Qwen2 tokenizer needs vocab.json and merges.txt, or tokenizer.json)");
    }

    public static Qwen2TokenizerData LoadVocabAndMerges(string vocabPath, string mergesPath, string? configPath)
    {
        var vocab = ReadVocabFile(vocabPath);
        var (merges, lines) = ReadMergesFile(mergesPath);
        var (added, eos, pad) = configPath is null ? ([], null, null) : ReadTokenizerConfig(configPath);
        return new Qwen2TokenizerData(vocab, merges, lines, added, eos, pad, vocabPath, mergesPath);
    }

    static byte[] ReadAll(string path)
    {
        if (!File.Exists(path)) throw new TokenizerException($"{path}: file not found");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new TokenizerException($"{path}: cannot be read ({e.Message})", e);
        }
    }

    static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(ReadAll(path), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    public static Dictionary<string, int> ReadVocabFile(string path)
    {
        using var doc = ParseJson(path);
        return ReadVocab(doc.RootElement, path, "vocab.json");
    }

    static Dictionary<string, int> ReadVocab(JsonElement e, string path, string what)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path}: {what} must be a JSON object of token → id, got {e.ValueKind}");
        var vocab = new Dictionary<string, int>(200_000, StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                throw new TokenizerException($"{path}: token {JsonSerializer.Serialize(p.Name)} has id {p.Value}, not an integer");
            if (!vocab.TryAdd(p.Name, id)) throw new TokenizerException($"{path}: token {JsonSerializer.Serialize(p.Name)} appears twice");
        }
        return vocab;
    }

    /// <summary>merges.txt as the slow tokenizer reads it: a first line starting <c>#version:</c> is skipped,
    /// each line is stripped, empty lines are skipped, and the rank is the index among the remaining lines.</summary>
    public static (List<(string, string)> Merges, List<int> Lines) ReadMergesFile(string path)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(ReadAll(path));
        }
        catch (DecoderFallbackException e)
        {
            throw new TokenizerException($"{path}: not valid UTF-8 ({e.Message})", e);
        }
        var merges = new List<(string, string)>(160_000);
        var lines = new List<int>(160_000);
        int lineNumber = 0;
        foreach (var raw in text.AsSpan().EnumerateLines())
        {
            lineNumber++;
            var line = raw.Trim();
            if ((lineNumber == 1 && line.StartsWith("#version:")) || line.IsEmpty) continue;
            int space = line.IndexOfAny(' ', '\t');
            var left = space < 0 ? line : line[..space];
            var right = space < 0 ? ReadOnlySpan<char>.Empty : line[(space + 1)..].TrimStart();
            if (space < 0 || right.IsEmpty || right.IndexOfAny(' ', '\t') >= 0)
                throw new TokenizerException($"{path}: line {lineNumber} is {JsonSerializer.Serialize(line.ToString())}; a merge is two tokens separated by a space");
            merges.Add((left.ToString(), right.ToString()));
            lines.Add(lineNumber);
        }
        if (merges.Count == 0) throw new TokenizerException($"{path}: no merges found");
        return (merges, lines);
    }

    /// <summary>The added tokens (<c>added_tokens_decoder</c>) and the eos/pad token names.</summary>
    public static (List<AddedToken> Added, string? Eos, string? Pad) ReadTokenizerConfig(string path)
    {
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path}: not a JSON object");
        if (root.TryGetProperty("tokenizer_class", out var cls) && cls.ValueKind == JsonValueKind.String
            && !(cls.GetString() ?? "").StartsWith("Qwen2Tokenizer", StringComparison.Ordinal))
            throw new TokenizerException($"{path}: 'tokenizer_class' is {cls.GetString()}; this reads Qwen2Tokenizer folders (Qwen2's pre-tokenisation regex)");
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind != JsonValueKind.Null)
        {
            if (decoder.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path}: 'added_tokens_decoder' must be an object of id → token");
            foreach (var p in decoder.EnumerateObject())
            {
                if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                    throw new TokenizerException($"{path}: 'added_tokens_decoder' key {JsonSerializer.Serialize(p.Name)} is not a token id");
                added.Add(ReadAddedToken(p.Value, id, path, $"added_tokens_decoder.{p.Name}"));
            }
        }
        return (added, TokenName(root, "eos_token", path), TokenName(root, "pad_token", path));
    }

    static string? TokenName(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        throw new TokenizerException($"{path}: '{key}' must be a string or an object with 'content', got {v}");
    }

    static AddedToken ReadAddedToken(JsonElement e, int id, string path, string where)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString()!.Length == 0)
            throw new TokenizerException($"{path}: '{where}' needs a non-empty string 'content'");
        bool Flag(string name)
        {
            if (!e.TryGetProperty(name, out var f) || f.ValueKind == JsonValueKind.Null) return false;
            if (f.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new TokenizerException($"{path}: '{where}.{name}' must be true or false, got {f}");
            return f.GetBoolean();
        }
        if (Flag("single_word")) throw new TokenizerException($"{path}: '{where}.single_word' is true; single-word added tokens are not supported");
        return new AddedToken(id, content.GetString()!, Flag("special"), Flag("lstrip"), Flag("rstrip"));
    }

    /// <summary>A fast-tokenizer file: <c>model</c> (type BPE, <c>vocab</c>, <c>merges</c> as "a b" strings or
    /// [a, b] pairs) and <c>added_tokens</c>; its pre-tokenizer must be Qwen2's regex split + byte level.</summary>
    public static Qwen2TokenizerData LoadTokenizerJson(string path, string? configPath)
    {
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: no 'model' object");
        if (!model.TryGetProperty("type", out var type) || type.GetString() != "BPE")
            throw new TokenizerException($"{path}: 'model.type' is {(model.TryGetProperty("type", out var t) ? t.ToString() : "missing")}; a Qwen2 tokenizer is BPE");
        CheckPreTokenizer(root, path);
        if (!model.TryGetProperty("vocab", out var vocabElement)) throw new TokenizerException($"{path}: 'model.vocab' is missing");
        var vocab = ReadVocab(vocabElement, path, "'model.vocab'");
        if (!model.TryGetProperty("merges", out var mergesElement) || mergesElement.ValueKind != JsonValueKind.Array)
            throw new TokenizerException($"{path}: 'model.merges' must be an array");
        var merges = new List<(string, string)>(mergesElement.GetArrayLength());
        var lines = new List<int>(merges.Capacity);
        int index = 0;
        foreach (var m in mergesElement.EnumerateArray())
        {
            string? left = null, right = null;
            if (m.ValueKind == JsonValueKind.String)
            {
                var parts = m.GetString()!.Split(' ');
                if (parts.Length == 2) (left, right) = (parts[0], parts[1]);
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (m[0].GetString(), m[1].GetString());
            }
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right))
                throw new TokenizerException($"{path}: 'model.merges[{index}]' is {m}; a merge is \"a b\" or [\"a\", \"b\"]");
            merges.Add((left, right));
            lines.Add(index++);
        }
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            int k = 0;
            foreach (var a in addedElement.EnumerateArray())
            {
                if (!a.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out int id))
                    throw new TokenizerException($"{path}: 'added_tokens[{k}].id' is missing or not an integer");
                added.Add(ReadAddedToken(a, id, path, $"added_tokens[{k}]"));
                k++;
            }
        }
        string? eos = null, pad = null;
        if (configPath is not null)
        {
            var (configAdded, configEos, configPad) = ReadTokenizerConfig(configPath);
            foreach (var c in configAdded)
                if (!added.Any(a => a.Id == c.Id && a.Content == c.Content))
                    throw new TokenizerException($"{configPath}: added token {c.Id} {JsonSerializer.Serialize(c.Content)} is not in {path}'s added_tokens");
            (eos, pad) = (configEos, configPad);
        }
        return new Qwen2TokenizerData(vocab, merges, lines, added, eos, pad, path, path);
    }

    static void CheckPreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path}: 'pre_tokenizer' is missing; expected Qwen2's regex split and byte level");
        var steps = pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array ? list.EnumerateArray().ToList() : [pre];
        bool split = false, byteLevel = false;
        foreach (var s in steps)
        {
            string? type = s.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (type == "Split")
            {
                string? pattern = s.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("Regex", out var r) ? r.GetString() : null;
                if (pattern != PreTokenizerPattern)
                    throw new TokenizerException($"{path}: 'pre_tokenizer' splits with {JsonSerializer.Serialize(pattern)}; only Qwen2's pattern {JsonSerializer.Serialize(PreTokenizerPattern)} is implemented");
                split = true;
            }
            else if (type == "ByteLevel")
            {
                if (s.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
                    throw new TokenizerException($"{path}: 'pre_tokenizer' ByteLevel has add_prefix_space true; Qwen2 adds no prefix space");
                byteLevel = true;
            }
            else
            {
                throw new TokenizerException($"{path}: 'pre_tokenizer' step {type ?? "(no type)"} is not part of Qwen2's (Split, ByteLevel)");
            }
        }
        if (!split || !byteLevel) throw new TokenizerException($"{path}: 'pre_tokenizer' must hold Qwen2's regex Split and a ByteLevel step");
    }
}
