using System.Text;
using TokenSieve.Evaluation;
using TokenSieve.Tests.Support;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Runner and score-API tests with a deterministic fake answerer. Scores are compared to 9
/// decimals: they are means of a handful of exact fractions, so only float rounding can differ.</summary>
public class RunnerTests
{
    static EvalDataset Dataset(int n, string task = "pope") => new()
    {
        Task = task, Kind = TaskKind.Pope,
        Items = Enumerable.Range(0, n).Select(i => new EvalItem
        {
            Task = task, QuestionId = $"q{i}", Question = $"Is there a thing {i}?", Prompt = $"Is there a thing {i}?",
            Answers = [i % 2 == 0 ? "yes" : "no"], Category = i % 3 == 0 ? "random" : "popular",
        }).ToList(),
        Settings = new Dictionary<string, string> { ["prompt"] = "llava" },
    };

    static readonly IReadOnlyList<MethodSpec> Methods = MethodSpec.Expand(["none", "fastervlm"], [64, 128]);

    sealed class SimulatedCrash : Exception { }

    /// <summary>A deterministic fake model: the answer and costs depend only on the request.</summary>
    static Answerer Fake(int crashAfter = int.MaxValue, List<string>? calls = null)
    {
        int count = 0;
        return (req, ct) =>
        {
            if (count++ >= crashAfter) throw new SimulatedCrash();
            calls?.Add($"{req.Item.QuestionId}|{req.Method.Spec}");
            int tokens = req.Method.Budget ?? 576;
            string text = (req.Seed % 3 == 0) ? "No, there is not." : "Yes";
            return ValueTask.FromResult(new Prediction(text, tokens, tokens * 0.5, 10, tokens * 0.5 + 2, tokens * 1e6));
        };
    }

    [Fact]
    public void Expand_MethodsTimesBudgets()
    {
        Assert.Equal(["none", "fastervlm:64", "fastervlm:128"], Methods.Select(m => m.Spec));
        Assert.Equal([null, 64, 128], Methods.Select(m => m.Budget));
        var specs = MethodSpec.Expand(["fastv:k=2,keep={budget}", "pool:144", "none", "none"], [64]);
        Assert.Equal(["fastv:k=2,keep=64", "pool:144", "none"], specs.Select(m => m.Spec));
        Assert.Equal(["fastv", "pool", "none"], specs.Select(m => m.Method));
        Assert.Equal(144, specs[1].Budget);
        Assert.Throws<EvaluationException>(() => MethodSpec.Expand(["x:{budget}"], []));
    }

    [Fact]
    public async Task Run_WritesOneLinePerRequest_WithCostsAndSettings()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "out", "results.jsonl");
        var reports = new List<RunProgress>();
        var summary = await EvalRunner.RunAsync([Dataset(4)], Methods, path, Fake(), new SweepOptions { Seed = 3, ModelId = "tiny" },
            new SyncProgress<RunProgress>(reports.Add));
        Assert.Equal((12, 0, 12), (summary.Total, summary.Resumed, summary.Answered));
        var issues = new List<ReadIssue>();
        var records = ResultsFile.Read(path, issues);
        Assert.Empty(issues);
        Assert.Equal(12, records.Count);
        var r = records[1];
        Assert.Equal(("pope", "fastervlm:64", 64, "q0"), r.Key);
        Assert.Equal(("fastervlm", 64, 32.0, "tiny"), (r.Method, r.VisualTokens, r.PrefillMs, r.ModelId));
        Assert.Equal("llava", r.Settings!["prompt"]);
        Assert.Equal(EvalRunner.DeriveSeed(3, "pope", "fastervlm:64", "q0"), r.Seed);
        Assert.Equal(13, reports.Count);
        Assert.Equal((0, 12, null), (reports[0].Done, reports[0].Total, reports[0].Eta));
        Assert.Equal(12, reports[^1].Done);
        Assert.All(reports.Skip(1), p => Assert.NotNull(p.Eta));
        Assert.Equal(TimeSpan.Zero, reports[^1].Eta);
    }

    [Fact]
    public async Task Run_IsDeterministicForAFixedSeed()
    {
        using var dir = new TempDir();
        string a = Path.Combine(dir.Path, "a.jsonl"), b = Path.Combine(dir.Path, "b.jsonl"), c = Path.Combine(dir.Path, "c.jsonl");
        await EvalRunner.RunAsync([Dataset(6)], Methods, a, Fake(), new SweepOptions { Seed = 11 });
        await EvalRunner.RunAsync([Dataset(6)], Methods, b, Fake(), new SweepOptions { Seed = 11 });
        await EvalRunner.RunAsync([Dataset(6)], Methods, c, Fake(), new SweepOptions { Seed = 12 });
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(14)]
    public async Task Resume_AfterStoppingAfterKItems_EqualsUninterruptedRun(int k)
    {
        using var dir = new TempDir();
        string full = Path.Combine(dir.Path, "full.jsonl"), part = Path.Combine(dir.Path, "part.jsonl");
        var options = new SweepOptions { Seed = 5 };
        await EvalRunner.RunAsync([Dataset(5)], Methods, full, Fake(), options);
        await Assert.ThrowsAsync<SimulatedCrash>(() => EvalRunner.RunAsync([Dataset(5)], Methods, part, Fake(crashAfter: k), options));
        Assert.Equal(k, File.ReadAllLines(part).Length);

        var calls = new List<string>();
        var summary = await EvalRunner.RunAsync([Dataset(5)], Methods, part, Fake(calls: calls), options);
        Assert.Equal((15, k, 15 - k), (summary.Total, summary.Resumed, summary.Answered));
        Assert.Equal(15 - k, calls.Count);
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(part));
    }

    [Fact]
    public async Task EveryLineIsInTheFileBeforeTheNextRequestStarts()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "r.jsonl");
        var linesSeen = new List<int>();
        Answerer checking = async (req, ct) =>
        {
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            using (var reader = new StreamReader(fs))
                linesSeen.Add(reader.ReadToEnd().Count(c => c == '\n'));
            return await Fake()(req, ct);
        };
        await EvalRunner.RunAsync([Dataset(2)], Methods, path, checking);
        Assert.Equal(Enumerable.Range(0, 6), linesSeen);
    }

    [Fact]
    public async Task Resume_AfterCancellation_LosesOnlyTheItemInFlight()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "r.jsonl");
        using var cts = new CancellationTokenSource();
        int calls = 0;
        Answerer cancelling = async (req, ct) =>
        {
            if (++calls == 4) { cts.Cancel(); ct.ThrowIfCancellationRequested(); }
            return await Fake()(req, ct);
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => EvalRunner.RunAsync([Dataset(3)], Methods, path, cancelling, null, null, cts.Token));
        Assert.Equal(3, File.ReadAllLines(path).Length);
        var summary = await EvalRunner.RunAsync([Dataset(3)], Methods, path, Fake());
        Assert.Equal((3, 6), (summary.Resumed, summary.Answered));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.01)]
    [InlineData(0.99)]
    public async Task Resume_AfterTruncationMidLine_RepairsAndEqualsUninterruptedRun(double fraction)
    {
        using var dir = new TempDir();
        string full = Path.Combine(dir.Path, "full.jsonl"), cut = Path.Combine(dir.Path, "cut.jsonl");
        await EvalRunner.RunAsync([Dataset(5)], Methods, full, Fake(), new SweepOptions { Seed = 2 });
        byte[] bytes = File.ReadAllBytes(full);
        // Cut inside line 7: keep 6 full lines and part of the 7th.
        int[] newlines = bytes.Select((b, i) => (b, i)).Where(t => t.b == (byte)'\n').Select(t => t.i).ToArray();
        int lineStart = newlines[5] + 1, lineEnd = newlines[6];
        int cutAt = lineStart + Math.Max(1, (int)((lineEnd - lineStart) * fraction));
        File.WriteAllBytes(cut, bytes[..cutAt]);

        var summary = await EvalRunner.RunAsync([Dataset(5)], Methods, cut, Fake(), new SweepOptions { Seed = 2 });
        Assert.Equal(6, summary.Resumed);
        var issue = Assert.Single(summary.ResultIssues);
        Assert.Equal(7, issue.Line);
        Assert.Equal(bytes, File.ReadAllBytes(cut));
    }

    [Fact]
    public async Task Resume_CompleteLastLineWithoutNewline_IsKept()
    {
        using var dir = new TempDir();
        string full = Path.Combine(dir.Path, "full.jsonl"), cut = Path.Combine(dir.Path, "cut.jsonl");
        await EvalRunner.RunAsync([Dataset(2)], Methods, full, Fake());
        byte[] bytes = File.ReadAllBytes(full);
        int[] newlines = bytes.Select((b, i) => (b, i)).Where(t => t.b == (byte)'\n').Select(t => t.i).ToArray();
        File.WriteAllBytes(cut, bytes[..newlines[2]]);   // three lines, the last without '\n'
        var summary = await EvalRunner.RunAsync([Dataset(2)], Methods, cut, Fake());
        Assert.Equal(3, summary.Resumed);
        Assert.Empty(summary.ResultIssues);
        Assert.Equal(bytes, File.ReadAllBytes(cut));
    }

    [Fact]
    public async Task LimitAndShards_CoverTheDatasetOnce()
    {
        using var dir = new TempDir();
        var ids = new List<string>();
        for (int s = 0; s < 3; s++)
        {
            string path = Path.Combine(dir.Path, $"s{s}.jsonl");
            await EvalRunner.RunAsync([Dataset(10)], [MethodSpec.None], path, Fake(), new SweepOptions { Limit = 8, Shard = new Shard(s, 3) });
            ids.AddRange(ResultsFile.Read(path, []).Select(r => r.QuestionId));
        }
        // ceil(8/3) = 3 per shard: q0-q2, q3-q5, q6-q7.
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"q{i}"), ids);
        Assert.Equal(new Shard(1, 4), Shard.Parse("1/4"));
        Assert.Throws<EvaluationException>(() => Shard.Parse("4/4"));
        Assert.Throws<EvaluationException>(() => Shard.Parse("x"));
    }

    [Fact]
    public async Task ScoreApi_ScoresEachConfigurationOfARun()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "r.jsonl");
        var ds = Dataset(6);
        await EvalRunner.RunAsync([ds], Methods, path, Fake());
        var scores = PredictionScoring.ScoreFile(ds, path);
        Assert.Equal(["none", "fastervlm:64", "fastervlm:128"], scores.Select(s => s.Spec));
        var records = ResultsFile.Read(path, []);
        foreach (var s in scores)
        {
            // Recompute POPE mean F1 by hand from the same texts.
            var rows = records.Where(r => r.Spec == s.Spec)
                .Select(r => ds.Items.First(i => i.QuestionId == r.QuestionId))
                .Zip(records.Where(r => r.Spec == s.Spec), (i, r) => (i.Category!, r.Text, i.Answers[0]));
            Assert.Equal(100 * PopeScorer.Score(rows, AnswerParsing.Llava).MeanF1, s.Score.Main, 9);
            Assert.Equal(6, s.Cost.Count);
            Assert.Equal(s.Budget ?? 576, s.Cost.MeanVisualTokens, 9);
        }
    }

    [Fact]
    public void ScoreApi_LlavaAnswerFile_MatchesBySourceIdAndQuestion()
    {
        using var dir = new TempDir();
        var gts = Enumerable.Repeat("stop", 10).ToArray();
        var ds = new EvalDataset
        {
            Task = "textvqa", Kind = TaskKind.TextVqa,
            Items =
            [
                new EvalItem { Task = "textvqa", QuestionId = "1", SourceId = "img", Question = "What does it say?", Prompt = "p", Answers = gts },
                new EvalItem { Task = "textvqa", QuestionId = "2", SourceId = "img", Question = "What colour is it?", Prompt = "p", Answers = ["red", "red", "red", "red", "red", "red", "red", "red", "red", "red"] },
            ],
        };
        string answers = dir.File("answers.jsonl",
            "{\"question_id\": \"img\", \"prompt\": \"What colour is it?\\nReference OCR token: STOP\\nAnswer the question using a single word or phrase.\", \"text\": \"Red\", \"answer_id\": \"x\", \"model_id\": \"llava\"}\n" +
            "{\"question_id\": \"img\", \"prompt\": \"what does it say?\\nAnswer the question using a single word or phrase.\", \"text\": \"STOP.\"}\n" +
            "{\"question_id\": \"nope\", \"prompt\": \"?\", \"text\": \"x\"}\n" +
            "{\"question_id\": \"img\", \"prompt\": \"broken\n");
        var issues = new List<ReadIssue>();
        var s = Assert.Single(PredictionScoring.ScoreFile(ds, answers, AnswerParsing.Llava, issues));
        Assert.Equal(PredictionScoring.ExternalSpec, s.Spec);
        Assert.Equal(100, s.Score.Main, 9);
        Assert.Equal(2, s.Score.Scored);
        Assert.Equal(1, s.Unmatched);
        Assert.Equal(4, Assert.Single(issues).Line);
    }

    [Fact]
    public void ScoreApi_LlavaMmeAnswers_TwoQuestionsPerImageMatchedByQuestion()
    {
        using var dir = new TempDir();
        dir.Bytes("MME/artwork/images/10002.jpg", [1]);
        dir.File("MME/artwork/questions_answers_YN/10002.txt",
            "Is this artwork created by X? Please answer yes or no.\tYes\nIs this artwork created by Y? Please answer yes or no.\tNo\n");
        var ds = MmeReader.ReadFolder(Path.Combine(dir.Path, "MME"));
        string answers = dir.File("answers.jsonl",
            "{\"question_id\": \"artwork/images/10002.jpg\", \"prompt\": \"Is this artwork created by Y? Please answer yes or no.\\nAnswer the question using a single word or phrase.\", \"text\": \"No\"}\n" +
            "{\"question_id\": \"artwork/images/10002.jpg\", \"prompt\": \"Is this artwork created by X? Please answer yes or no.\\nAnswer the question using a single word or phrase.\", \"text\": \"Yes\"}\n");
        var s = Assert.Single(PredictionScoring.ScoreFile(ds, answers));
        Assert.Equal(2, s.Score.Scored);
        Assert.Equal(0, s.Unmatched);
        Assert.Equal(200, s.Score.Main, 9);   // acc 100 + acc+ 100
    }

    [Fact]
    public void Report_FromAnswerFileWithoutCosts_HasTablesAndNoCharts()
    {
        using var dir = new TempDir();
        var ds = Dataset(3);
        string answers = dir.File("answers.jsonl", string.Concat(ds.Items.Select(i => $"{{\"question_id\": \"{i.QuestionId}\", \"text\": \"Yes\"}}\n")));
        var report = new BenchmarkReport(PredictionScoring.ScoreFile(ds, answers), baselineSpec: PredictionScoring.ExternalSpec);
        Assert.Empty(ReportCharts.Build(report));
        var output = TokenSieve.Cli.Reports.ReportFiles.Write(report, Path.Combine(dir.Path, "rep"));
        Assert.Empty(output.ChartPngs);
        Assert.Contains("| external | – |", File.ReadAllText(output.Markdown));
    }

    /// <summary>Progress<T> posts to the thread pool; tests need the reports in order, synchronously.</summary>
    sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
