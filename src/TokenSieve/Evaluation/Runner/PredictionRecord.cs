using System.Text;
using System.Text.Json;

namespace TokenSieve.Evaluation;

/// <summary>What the answerer returns for one item under one method: the answer text and what it cost.</summary>
/// <param name="VisualTokens">Visual tokens that reached the decoder (after every reduction stage).</param>
/// <param name="Flops">Prefill FLOPs from the engine's cost model.</param>
/// <param name="Kept">Where the surviving visual tokens came from, for position statistics (null when unknown).</param>
/// <param name="Attention">"eager" when the engine ran eager attention; null for the default fused attention.</param>
/// <param name="Earlier">For a conversation: the answers to the item's earlier turns, in order.</param>
public sealed record Prediction(string Text, int VisualTokens, double PrefillMs, double DecodeMs, double TtftMs, double Flops,
    KeptSources? Kept = null, string? Attention = null, IReadOnlyList<Prediction>? Earlier = null);

/// <summary>One line of a results file: LLaVA's answer format (<c>question_id, prompt, text, answer_id,
/// model_id</c>) plus the configuration and its measured cost, so LLaVA-style and lmms-eval-style scorers
/// both run on it. LLaVA answer files read as records with no task, method or cost.</summary>
public sealed record PredictionRecord
{
    public required string QuestionId { get; init; }
    public string Prompt { get; init; } = "";
    public required string Text { get; init; }
    public string? Task { get; init; }

    /// <summary>The full method spec ("fastervlm:64"); with <see cref="Task"/>, <see cref="Budget"/> and
    /// <see cref="QuestionId"/> it is the resume key.</summary>
    public string? Spec { get; init; }
    public string? Method { get; init; }
    public int? Budget { get; init; }
    public int? VisualTokens { get; init; }
    public double? PrefillMs { get; init; }
    public double? DecodeMs { get; init; }
    public double? TtftMs { get; init; }
    public double? Flops { get; init; }
    public int? Seed { get; init; }
    public string? AnswerId { get; init; }
    public string? ModelId { get; init; }

    /// <summary>Dataset settings that change scores (OCR tokens, prompt style).</summary>
    public IReadOnlyDictionary<string, string>? Settings { get; init; }

    /// <summary>The turn of a conversation this answer belongs to (1, 2, …); null for single questions.</summary>
    public int? Turn { get; init; }

    /// <summary>"eager" for runs with eager attention (METHODS.md §15.4); null for fused.</summary>
    public string? Attention { get; init; }

    /// <summary>Where the surviving visual tokens came from; null in older files and foreign answer files.</summary>
    public KeptSources? Kept { get; init; }

    /// <summary>Resume key: task, method spec (with the attention mode when eager), budget, question id.</summary>
    public (string Task, string Spec, int? Budget, string QuestionId) Key => (Task ?? "", (Spec ?? "") + (Attention is null ? "" : "@" + Attention), Budget, QuestionId);

    // Results files are data, not HTML: keep non-ASCII text and quotes readable.
    static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One JSON line, ending in '\n'.</summary>
    public byte[] ToJsonLine()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("question_id", QuestionId);
            w.WriteString("prompt", Prompt);
            w.WriteString("text", Text);
            if (AnswerId is not null) w.WriteString("answer_id", AnswerId);
            if (ModelId is not null) w.WriteString("model_id", ModelId);
            if (Task is not null) w.WriteString("task", Task);
            if (Method is not null) w.WriteString("method", Method);
            if (Spec is not null) w.WriteString("spec", Spec);
            if (Budget is { } b) w.WriteNumber("budget", b); else if (Spec is not null) w.WriteNull("budget");
            if (VisualTokens is { } vt) w.WriteNumber("visual_tokens", vt);
            if (PrefillMs is { } p) w.WriteNumber("prefill_ms", p);
            if (DecodeMs is { } d) w.WriteNumber("decode_ms", d);
            if (TtftMs is { } t) w.WriteNumber("ttft_ms", t);
            if (Flops is { } f) w.WriteNumber("flops", f);
            if (Seed is { } s) w.WriteNumber("seed", s);
            if (Attention is not null) w.WriteString("attention", Attention);
            if (Turn is { } turn) w.WriteNumber("turn", turn);
            if (Settings is { Count: > 0 })
            {
                w.WriteStartObject("settings");
                foreach (var (k, v) in Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            if (Kept is not null)
            {
                w.WritePropertyName("kept");
                Kept.Write(w);
            }
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    /// <summary>Parses one line; null when it is not a JSON object with <c>question_id</c> and <c>text</c>.</summary>
    public static PredictionRecord? TryParse(string line, out string? error)
    {
        error = null;
        JsonElement o;
        try
        {
            using var doc = JsonDocument.Parse(line);
            o = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            error = $"not valid JSON ({e.Message.Split('.')[0]})";
            return null;
        }
        string? qid = JsonLines.Text(o, "question_id");
        string? text = o.ValueKind == JsonValueKind.Object && o.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (qid is null || text is null)
        {
            error = "missing question_id or text";
            return null;
        }
        Dictionary<string, string>? settings = null;
        if (o.TryGetProperty("settings", out var st) && st.ValueKind == JsonValueKind.Object)
            settings = st.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
        return new PredictionRecord
        {
            QuestionId = qid, Text = text, Prompt = JsonLines.Text(o, "prompt") ?? "",
            Task = JsonLines.Text(o, "task"), Spec = JsonLines.Text(o, "spec"), Method = JsonLines.Text(o, "method"),
            Budget = Int(o, "budget"), VisualTokens = Int(o, "visual_tokens"),
            PrefillMs = Num(o, "prefill_ms"), DecodeMs = Num(o, "decode_ms"), TtftMs = Num(o, "ttft_ms"), Flops = Num(o, "flops"),
            Seed = Int(o, "seed"), AnswerId = JsonLines.Text(o, "answer_id"), ModelId = JsonLines.Text(o, "model_id"),
            Settings = settings,
            Attention = JsonLines.Text(o, "attention"),
            Turn = Int(o, "turn"),
            Kept = o.TryGetProperty("kept", out var kept) && kept.ValueKind == JsonValueKind.Object ? KeptSources.Read(kept) : null,
        };
    }

    static double? Num(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    static int? Int(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;
}

/// <summary>Reading results files (ours or LLaVA answer files).</summary>
public static class ResultsFile
{
    /// <summary>Reads every record. Malformed lines are reported in <paramref name="issues"/> and skipped,
    /// including a torn last line (a run killed mid-write); a complete last line without its newline is kept.</summary>
    public static List<PredictionRecord> Read(string path, List<ReadIssue> issues)
    {
        if (!File.Exists(path)) throw new DatasetException(path, "results file not found");
        return ParseAll(path, File.ReadAllBytes(path), issues, out _);
    }

    /// <summary>For resuming: reads the records and repairs the tail so appends start on a fresh line —
    /// a torn last line is cut off, a complete one gets its newline. A missing file is an empty result.</summary>
    internal static List<PredictionRecord> ReadForResume(string path, List<ReadIssue> issues)
    {
        if (!File.Exists(path)) return [];
        byte[] bytes = File.ReadAllBytes(path);
        var records = ParseAll(path, bytes, issues, out var tail);
        if (tail == Tail.Torn)
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Write);
            fs.SetLength(Array.LastIndexOf(bytes, (byte)'\n') + 1);
        }
        else if (tail == Tail.MissingNewline)
        {
            using var fs = new FileStream(path, FileMode.Append, FileAccess.Write);
            fs.WriteByte((byte)'\n');
        }
        return records;
    }

    enum Tail { Clean, MissingNewline, Torn }

    static List<PredictionRecord> ParseAll(string path, byte[] bytes, List<ReadIssue> issues, out Tail tail)
    {
        tail = Tail.Clean;
        var records = new List<PredictionRecord>();
        int lineNo = 0, start = 0;
        while (start < bytes.Length)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            bool last = end < 0;
            if (last) end = bytes.Length;
            lineNo++;
            string line = Encoding.UTF8.GetString(bytes, start, end - start).TrimEnd('\r');
            start = end + 1;
            if (string.IsNullOrWhiteSpace(line))
            {
                if (last) tail = Tail.Torn;
                continue;
            }
            var r = PredictionRecord.TryParse(line, out var error);
            if (r is not null)
            {
                records.Add(r);
                if (last) tail = Tail.MissingNewline;
            }
            else if (last)
            {
                issues.Add(new ReadIssue(path, lineNo, $"last line is incomplete (interrupted write?), ignored: {error}"));
                tail = Tail.Torn;
            }
            else issues.Add(new ReadIssue(path, lineNo, error!));
        }
        return records;
    }
}
