using System.Diagnostics;

namespace TokenSieve.Evaluation;

/// <summary>What the answerer is asked: an item, the configuration, and the seed for this request
/// (derived from the run seed and the resume key, so it does not depend on order, shard or resume).</summary>
public sealed record AnswerRequest(EvalItem Item, MethodSpec Method, int Seed);

/// <summary>Answers one item under one configuration. The lead wires the real engine; tests pass a fake.</summary>
public delegate ValueTask<Prediction> Answerer(AnswerRequest request, CancellationToken cancellationToken);

/// <summary>Run-wide knobs.</summary>
public sealed record SweepOptions
{
    public int Seed { get; init; }

    /// <summary>Keep only the first <c>Limit</c> items of each dataset (before sharding).</summary>
    public int? Limit { get; init; }

    public Shard? Shard { get; init; }

    /// <summary>fsync after each line (survives power loss); by default each line is flushed to the OS,
    /// which survives a killed process.</summary>
    public bool FlushToDisk { get; init; }

    /// <summary>Written as <c>model_id</c> on every line.</summary>
    public string? ModelId { get; init; }

    /// <summary>"eager" when the answerer runs eager attention: such answers are kept apart from fused
    /// ones in the resume key, so one results file can hold both.</summary>
    public string? Attention { get; init; }
}

/// <summary>Progress: once at the start (what was resumed) and after each request. <see cref="Eta"/>
/// extrapolates the mean time of the requests answered in this session; null until one has been answered.</summary>
public sealed record RunProgress(int Done, int Total, int Resumed, TimeSpan Elapsed, TimeSpan? Eta,
    string Task, string Spec, string QuestionId);

/// <summary>The outcome: requests planned, found already done, answered now, and problems in the
/// existing results file.</summary>
public sealed record RunSummary(int Total, int Resumed, int Answered, IReadOnlyList<ReadIssue> ResultIssues);

/// <summary>Sweeps methods × budgets × items, appending each prediction to a JSONL file the moment it is
/// made. Re-running with the same file skips every (task, spec, budget, question id) already present; a kill
/// loses at most the request in flight. Items run in dataset order, each through all configurations in
/// the given order (so a per-image cache in the answerer can be reused).</summary>
public static class EvalRunner
{
    public static async Task<RunSummary> RunAsync(IReadOnlyList<EvalDataset> datasets, IReadOnlyList<MethodSpec> methods,
        string resultsPath, Answerer answerer, SweepOptions? options = null, IProgress<RunProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new SweepOptions();
        if (methods.Count == 0) throw new EvaluationException("no methods to run");
        var issues = new List<ReadIssue>();
        var done = new HashSet<(string, string, int?, string)>();
        foreach (var r in ResultsFile.ReadForResume(resultsPath, issues)) done.Add(r.Key);

        var plan = new List<(EvalDataset Dataset, EvalItem Item, MethodSpec Method)>();
        foreach (var ds in datasets)
        {
            IReadOnlyList<EvalItem> items = options.Limit is { } limit ? ds.Items.Take(limit).ToList() : ds.Items;
            var selected = options.Shard is { } shard ? shard.Select(items) : items;
            foreach (var item in selected)
            {
                if (item.Task != ds.Task)
                    throw new EvaluationException($"item '{item.QuestionId}' has task '{item.Task}' inside dataset '{ds.Task}'");
                foreach (var m in methods) plan.Add((ds, item, m));
            }
        }
        int total = plan.Count;
        string suffix = options.Attention is null ? "" : "@" + options.Attention;
        int resumed = plan.Count(p => done.Contains((p.Item.Task, p.Method.Spec + suffix, p.Method.Budget, p.Item.QuestionId)));

        string? dir = Path.GetDirectoryName(Path.GetFullPath(resultsPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        await using var stream = new FileStream(resultsPath, FileMode.Append, FileAccess.Write, FileShare.Read);
        var clock = Stopwatch.StartNew();
        int answered = 0;
        progress?.Report(new RunProgress(resumed, total, resumed, TimeSpan.Zero, null, "", "", ""));
        foreach (var (ds, item, method) in plan)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = (item.Task, method.Spec + (options.Attention is null ? "" : "@" + options.Attention), method.Budget, item.QuestionId);
            if (!done.Add(key)) continue;
            int seed = DeriveSeed(options.Seed, item.Task, method.Spec, item.QuestionId);
            var prediction = await answerer(new AnswerRequest(item, method, seed), cancellationToken).ConfigureAwait(false);
            // A conversation's earlier turns are written first, each under its own task, so a kill after
            // them re-asks the whole conversation (the scorers keep the first answer per question).
            var earlier = prediction.Earlier ?? [];
            if (earlier.Count != item.Prior.Count)
                throw new EvaluationException($"{item.Task}/{item.QuestionId}: the answerer returned {earlier.Count} earlier turns for a conversation of {item.Prior.Count + 1}");
            for (int t = 0; t < earlier.Count; t++)
                await Write(Record(item.Prior[t], method, seed, earlier[t], ds.Settings, options, turn: t + 1), stream, options).ConfigureAwait(false);
            await Write(Record(item, method, seed, prediction, ds.Settings, options, turn: earlier.Count > 0 ? earlier.Count + 1 : null), stream, options).ConfigureAwait(false);
            answered++;
            int finished = resumed + answered;
            TimeSpan? eta = TimeSpan.FromTicks(clock.Elapsed.Ticks / answered * (total - finished));
            progress?.Report(new RunProgress(finished, total, resumed, clock.Elapsed, eta, item.Task, method.Spec, item.QuestionId));
        }
        return new RunSummary(total, resumed, answered, issues);
    }

    static PredictionRecord Record(EvalItem item, MethodSpec method, int seed, Prediction prediction, IReadOnlyDictionary<string, string> settings, SweepOptions options,
        int? turn) => new()
    {
        QuestionId = item.QuestionId, Prompt = item.Prompt, Text = prediction.Text, Task = item.Task,
        Method = method.Method, Spec = method.Spec, Budget = method.Budget,
        VisualTokens = prediction.VisualTokens, PrefillMs = prediction.PrefillMs, DecodeMs = prediction.DecodeMs,
        TtftMs = prediction.TtftMs, Flops = prediction.Flops, Seed = seed, ModelId = options.ModelId,
        Settings = settings.Count > 0 ? settings : null, Attention = prediction.Attention, Kept = prediction.Kept,
        Turn = turn,
    };

    static async Task Write(PredictionRecord record, FileStream stream, SweepOptions options)
    {
        byte[] line = record.ToJsonLine();
        await stream.WriteAsync(line, CancellationToken.None).ConfigureAwait(false);
        if (options.FlushToDisk) stream.Flush(flushToDisk: true);
        else await stream.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>FNV-1a over the run seed and the resume key: stable across processes and platforms
    /// (string.GetHashCode is randomised per process).</summary>
    public static int DeriveSeed(int runSeed, string task, string spec, string questionId)
    {
        uint h = 2166136261;
        void Mix(string s)
        {
            foreach (char c in s) { h ^= c; h *= 16777619; }
            h ^= 0x1F; h *= 16777619;
        }
        Mix(runSeed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Mix(task);
        Mix(spec);
        Mix(questionId);
        return (int)(h & 0x7FFFFFFF);
    }
}
