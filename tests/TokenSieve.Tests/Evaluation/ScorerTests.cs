using TokenSieve.Evaluation;

namespace TokenSieve.Tests.Evaluation;

/// <summary>Hand-checked cases for every scorer. Ratios are sums of small fractions, compared to 1e-9.</summary>
public class ScorerTests
{
    const int Digits = 9;

    [Theory]
    [InlineData("Yes, there is a dog.", "yes")]
    [InlineData("No.", "no")]
    [InlineData("No, there is not.", "no")]
    [InlineData("There is no dog in the image", "no")]
    [InlineData("I don't know", "yes")]           // "don't" is not one of the three words
    [InlineData("Not sure. No", "yes")]           // only the first sentence counts; "Not" is capitalised
    [InlineData("No\nthere is none", "yes")]      // split on single spaces: "No\nthere" is one word
    [InlineData("Yes, no doubt", "no")]           // any "no" word wins
    public void Pope_LlavaParsing(string text, string expected) => Assert.Equal(expected, PopeScorer.ParseLlava(text));

    static (string Split, string Text, string Label)[] PopeRows() =>
    [
        ("random", "Yes, there is.", "yes"), ("random", "No.", "yes"), ("random", "No, there is not.", "no"), ("random", "yes", "no"),
        ("popular", "Yes", "yes"), ("popular", "There is no dog", "no"), ("popular", "Yes it is", "yes"),
        ("adversarial", "I don't know", "yes"), ("adversarial", "Not sure. No", "no"),
    ];

    [Fact]
    public void Pope_PerSplitAndMeanF1_Llava()
    {
        var r = PopeScorer.Score(PopeRows(), AnswerParsing.Llava);
        // random: TP1 FN1 TN1 FP1 → 0.5 everywhere.
        var random = r.Splits["random"];
        Assert.Equal((1, 1, 1, 1), (random.TruePositive, random.FalsePositive, random.TrueNegative, random.FalseNegative));
        Assert.Equal(0.5, random.F1, Digits);
        Assert.Equal(0.5, random.YesRatio, Digits);
        // popular: TP2 TN1 → all 1; yes-ratio 2/3 (predictions).
        Assert.Equal(1.0, r.Splits["popular"].F1, Digits);
        Assert.Equal(2.0 / 3, r.Splits["popular"].YesRatio, Digits);
        // adversarial: both parsed "yes": TP1 FP1 → P 0.5, R 1, F1 2/3, acc 0.5.
        var adv = r.Splits["adversarial"];
        Assert.Equal(0.5, adv.Precision, Digits);
        Assert.Equal(1.0, adv.Recall, Digits);
        Assert.Equal(2.0 / 3, adv.F1, Digits);
        Assert.Equal(0.5, adv.Accuracy, Digits);
        Assert.Equal((0.5 + 1 + 2.0 / 3) / 3, r.MeanF1, Digits);
        Assert.Equal((0.5 + 1 + 0.5) / 3, r.MeanAccuracy, Digits);
    }

    [Fact]
    public void Pope_LmmsEvalParsing_ExactOnly_YesRatioOnGroundTruth()
    {
        var r = PopeScorer.Score(PopeRows(), AnswerParsing.LmmsEval);
        var random = r.Splits["random"];
        // Only the bare "yes" (label no) counts: FP1, nothing else enters the confusion matrix.
        Assert.Equal((0, 1, 0, 0), (random.TruePositive, random.FalsePositive, random.TrueNegative, random.FalseNegative));
        Assert.Equal(0.0, random.Accuracy, Digits);
        Assert.Equal(0.0, random.F1, Digits);
        Assert.Equal(0.5, random.YesRatio, Digits);    // 2 of 4 labels are "yes"
        var popular = r.Splits["popular"];
        Assert.Equal(1.0 / 3, popular.Accuracy, Digits); // "yes" vs "Yes" lowercases to a match
        Assert.Equal(1.0, popular.Precision, Digits);
        Assert.Equal(1.0, popular.Recall, Digits);      // "yes it is" is neither TP nor FN
    }

    [Theory]
    [InlineData("Yes", "yes")]
    [InlineData("no.", "no")]
    [InlineData("Y", "yes")]
    [InlineData("n", "no")]
    [InlineData("Yes, there is", "yes")]
    [InlineData("Nope", "no")]
    [InlineData("I think yes", "other")]   // only the first four characters are searched
    [InlineData("maybe", "other")]
    public void Mme_Parsing(string text, string expected) => Assert.Equal(expected, MmeScorer.ParseAnswer(text));

    [Theory]
    [InlineData("Yes", "yes")]
    [InlineData("No.", "no")]
    [InlineData("Y", "other")]          // the official script has no single-letter rule
    [InlineData(" yes", "yes")]         // no strip, but " yes" is within the first four characters
    [InlineData("   yes", "other")]
    [InlineData("Nope", "no")]
    public void Mme_OfficialParsing(string text, string expected) => Assert.Equal(expected, MmeScorer.ParseAnswerOfficial(text));

    [Fact]
    public void Mme_AccAndAccPlus_PerceptionAndCognition()
    {
        var items = new List<EvalItem>
        {
            Mme("existence", "img1", 0, "Yes"), Mme("existence", "img1", 1, "No"),
            Mme("existence", "img2", 0, "Yes"), Mme("existence", "img2", 1, "No"),
            Mme("code_reasoning", "c1", 0, "No"), Mme("code_reasoning", "c1", 1, "Yes"),
        };
        var preds = new Dictionary<string, string>
        {
            [items[0].QuestionId] = "Yes", [items[1].QuestionId] = "No.",
            [items[2].QuestionId] = "yes", [items[3].QuestionId] = "Yes, it is",
            [items[4].QuestionId] = "n", [items[5].QuestionId] = "Maybe",
        };
        var s = Scoring.Score(new EvalDataset { Task = "mme", Kind = TaskKind.Mme, Items = items }, preds, AnswerParsing.LmmsEval);
        Assert.Equal(75, s.Metrics["existence/acc"], Digits);
        Assert.Equal(50, s.Metrics["existence/acc_plus"], Digits);
        Assert.Equal(50, s.Metrics["code_reasoning/acc"], Digits);
        Assert.Equal(0, s.Metrics["code_reasoning/acc_plus"], Digits);
        Assert.Equal(125, s.Main, Digits);
        Assert.Equal(50, s.Metrics["cognition"], Digits);
        Assert.Equal(6, s.Scored);
        // The official parse reads "n" as "other": code_reasoning drops to 0; existence is unchanged.
        var official = Scoring.Score(new EvalDataset { Task = "mme", Kind = TaskKind.Mme, Items = items }, preds, AnswerParsing.Llava);
        Assert.Equal(125, official.Main, Digits);
        Assert.Equal(0, official.Metrics["cognition"], Digits);
    }

    static EvalItem Mme(string subtask, string image, int k, string answer) => new()
    {
        Task = "mme", QuestionId = $"{subtask}/{image}#{k}", Question = "q", Prompt = "q",
        Answers = [answer], Category = subtask, Group = $"{subtask}/{image}",
    };

    [Theory]
    [InlineData("A", "A", 3, true)]
    [InlineData("B. the second", "B", 3, true)]
    [InlineData("The answer is C.", "C", 3, true)]
    [InlineData("So. The answer is B", "B", 3, true)]
    [InlineData("a", "A", 3, false)]          // lowercase letters FAIL in LLaVA's parse
    [InlineData("C", "B", 2, false)]          // C names no choice when there are two
    [InlineData("A\nbecause", "A", 3, true)]  // newline → ". " so "A. because"
    [InlineData("I'd say A", "A", 3, false)]
    public void ScienceQa_LlavaExtraction(string text, string answer, int choices, bool correct) =>
        Assert.Equal(correct, ScienceQaScorer.IsCorrectLlava(text, answer, choices));

    [Theory]
    [InlineData(" b ", "B", true)]
    [InlineData("B. because", "B", true)]
    [InlineData("The answer is B.", "B", false)]
    public void ScienceQa_LmmsEvalExtraction(string text, string answer, bool correct) =>
        Assert.Equal(correct, ScienceQaScorer.IsCorrectLmmsEval(text, answer));

    [Theory]
    [InlineData("B", "B")]
    [InlineData("The answer is B.", "B")]
    [InlineData("(C)", "C")]
    [InlineData("Answer:D", null)]          // one token "Answer:D" is not a decorated letter
    [InlineData("A or B", null)]            // two bare letters
    [InlineData("A cat sits on the mat", "B")]   // "A" may be an article → option text "cat"
    [InlineData("a dog and a cat", null)]        // two option texts found
    public void MmBench_StaticExtraction(string answer, string? expected) =>
        Assert.Equal(expected, MmBenchScorer.Extract(answer, ["dog", "cat", "bird", "fish"]));

    [Fact]
    public void MmBench_CircularEval_AllRotationsMustHit()
    {
        string[] opts = ["red", "green", "blue"];
        EvalItem Row(long index, int shift, string category)
        {
            var choices = opts.Skip(shift).Concat(opts.Take(shift)).ToArray();
            return new EvalItem
            {
                Task = "mmbench", QuestionId = index.ToString(), Question = "colour?", Prompt = "colour?", Choices = choices,
                Answers = [((char)('A' + Array.IndexOf(choices, "green"))).ToString()], Category = category,
                Group = (index % MmBenchScorer.CircularStride).ToString(),
            };
        }
        var items = new[] { Row(1, 0, "color"), Row(1_000_001, 1, "color"), Row(2_000_001, 2, "color"), Row(2, 0, "shape"), Row(1_000_002, 1, "shape") };
        var preds = new Dictionary<string, string>
        {
            ["1"] = "B", ["1000001"] = "A.", ["2000001"] = "green",    // all three rotations right
            ["2"] = "B", ["1000002"] = "B",                            // second rotation wrong (answer A)
        };
        var s = Scoring.Score(new EvalDataset { Task = "mmbench", Kind = TaskKind.MmBench, Items = items }, preds);
        Assert.Equal(50, s.Main, Digits);
        Assert.Equal(100, s.Metrics["category/color"], Digits);
        Assert.Equal(0, s.Metrics["category/shape"], Digits);
    }

    [Fact]
    public void Gqa_BothConventions()
    {
        Assert.True(GqaScorer.IsCorrectLlava("Yes..", "yes"));
        Assert.False(GqaScorer.IsCorrectLlava("yes!", "yes"));
        Assert.True(GqaScorer.IsCorrectLmmsEval(" Yes! ", "yes"));
        Assert.True(GqaScorer.IsCorrectLmmsEval("t-shirt", "tshirt"));
        Assert.False(GqaScorer.IsCorrectLlava("The table", "table"));
    }

    [Fact]
    public void Scoring_CountsMissingAndAveragesTextVqa()
    {
        var gts = new[] { "two", "2", "2", "3", "3", "3", "3", "3", "3", "3" };
        var items = new[]
        {
            new EvalItem { Task = "textvqa", QuestionId = "1", Question = "q", Prompt = "q", Answers = gts },
            new EvalItem { Task = "textvqa", QuestionId = "2", Question = "q", Prompt = "q", Answers = gts },
            new EvalItem { Task = "textvqa", QuestionId = "3", Question = "q", Prompt = "q", Answers = gts },
        };
        var s = Scoring.Score(new EvalDataset { Task = "textvqa", Kind = TaskKind.TextVqa, Items = items },
            new Dictionary<string, string> { ["1"] = "Two", ["2"] = "three" });
        // "Two" matches 3 answers → 0.9; "three" matches 7 → 1.0; mean 95%.
        Assert.Equal(95, s.Main, Digits);
        Assert.Equal(2, s.Scored);
        Assert.Equal(1, s.Missing);
    }
}
