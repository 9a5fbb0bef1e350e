using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Tests.Support;
using TokenSieve.Text;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Two-turn conversations from a single-turn benchmark (METHODS.md §15.5): the pairing rule,
/// the runner's per-turn records and resume, and the engine answering both turns on one cache.</summary>
public sealed class MultiTurnRunnerTests
{
    static EvalItem Item(string id, string image, string answer) => new()
    {
        Task = "pope", QuestionId = id, Question = $"Is there {id}?", Prompt = $"Is there {id}?", Answers = [answer], ImagePath = image, Category = "random",
    };

    static EvalDataset Dataset(params EvalItem[] items) => new() { Task = "pope", Kind = TaskKind.Pope, Items = items };

    [Fact]
    public void Pairing_asks_each_question_second_after_the_next_question_on_its_image()
    {
        var set = MultiTurn.Pair(Dataset(Item("a1", "A.png", "yes"), Item("b1", "B.png", "no"), Item("a2", "A.png", "no"), Item("c1", "C.png", "yes"),
            Item("a3", "A.png", "yes"), Item("c2", "C.png", "no")));
        Assert.Equal(1, set.Unpaired); // b1 is alone on B.png
        Assert.Equal(["a2>a1", "a3>a2", "a1>a3", "c2>c1", "c1>c2"], set.Turn2.Items.Select(i => i.QuestionId));
        Assert.Equal(set.Turn2.Items.Select(i => i.QuestionId), set.Turn1.Items.Select(i => i.QuestionId));
        var first = set.Turn2.Items[0];
        Assert.Equal(("pope/turn2", "Is there a1?", "yes", "a1"), (first.Task, first.Prompt, first.Answers[0], first.SourceId));
        var prior = Assert.Single(first.Prior);
        Assert.Equal(("pope/turn1", "Is there a2?", "no", "a2>a1"), (prior.Task, prior.Prompt, prior.Answers[0], prior.QuestionId));
        Assert.Same(prior, set.Turn1.Items[0]);
        Assert.Equal("image-pairs", set.Turn2.Settings["multi_turn"]);
        Assert.Throws<EvaluationException>(() => MultiTurn.Pair(Dataset(Item("x", null!, "yes") with { ImagePath = null })));
    }

    [Fact]
    public async Task Runner_writes_each_turn_under_its_task_and_resumes_per_conversation()
    {
        var set = MultiTurn.Pair(Dataset(Item("a1", "A.png", "yes"), Item("a2", "A.png", "no")));
        using var dir = new TempDir();
        string path = dir.File("results.jsonl");
        int calls = 0;
        Answerer answer = (req, ct) =>
        {
            calls++;
            Assert.Single(req.Item.Prior);
            var turn1 = new Prediction("yes", 16, 1, 1, 2, 100);
            return ValueTask.FromResult(new Prediction("no", 16, 1, 1, 2, 50, Earlier: [turn1]));
        };
        var methods = MethodSpec.Expand(["none"], []);
        var summary = await EvalRunner.RunAsync([set.Turn2], methods, path, answer);
        Assert.Equal((2, 2), (summary.Total, summary.Answered));
        var records = ResultsFile.Read(path, []);
        Assert.Equal([("pope/turn1", "a2>a1", 1), ("pope/turn2", "a2>a1", 2), ("pope/turn1", "a1>a2", 1), ("pope/turn2", "a1>a2", 2)],
            records.Select(r => (r.Task!, r.QuestionId, r.Turn!.Value)));
        var scores = PredictionScoring.ScoreRun([set.Turn1, set.Turn2], path);
        Assert.Equal([("pope/turn1", 50.0), ("pope/turn2", 50.0)], scores.Select(s => (s.Task, Math.Round(s.Score.Metrics["random/accuracy"], 6))));
        summary = await EvalRunner.RunAsync([set.Turn2], methods, path, answer);
        Assert.Equal((2, 0), (summary.Resumed, summary.Answered));
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task The_engine_answers_both_turns_on_one_cache()
    {
        using var model = LlavaModel.Load(TestData.LlavaTiny);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(TestData.LlavaTiny);
        string image = Path.Combine(TestData.LlavaTiny, "image.png");
        var set = MultiTurn.Pair(Dataset(Item("a1", image, "yes"), Item("a2", image, "no")));
        var answerer = new EngineAnswerer(new LlavaPipeline(model, ComputeContext.SingleThread), tokenizer, ChatTemplate.VicunaV1, AspectMode.Pad, maxNewTokens: 3);
        var prediction = await answerer.Answer(new AnswerRequest(set.Turn2.Items[0], MethodSpec.Expand(["fastv:k=1,keep=6"], [])[0], 1), default);
        var turn1 = Assert.Single(prediction.Earlier!);
        Assert.Equal(6, turn1.Kept!.Tokens.Count); // FastV kept 6 of the 16 visual tokens in turn 1
        Assert.Equal(turn1.Kept.Tokens, prediction.Kept!.Tokens); // turn 2 reads that pruned cache: nothing chosen again
        Assert.True(prediction.Flops < turn1.Flops); // the second turn runs only its own tokens
    }
}
