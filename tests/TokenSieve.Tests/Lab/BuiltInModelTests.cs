using TokenSieve.Cli;
using TokenSieve.Evaluation;
using TokenSieve.Lab.Evaluation;
using TokenSieve.Lab.Scenes;
using TokenSieve.Models;
using TokenSieve.Numerics;
using TokenSieve.Pipeline;
using TokenSieve.Text;

namespace TokenSieve.Tests.Lab;

/// <summary>The committed built-in model (models/lab) on a fixed slice of the lab test split,
/// answered through the engine exactly as `bench --suite lab` does. The bounds sit a little under
/// the accuracy measured when the model was committed (issue note), so a regression in the engine,
/// tokenizer, preprocessing or the model file fails here.</summary>
public sealed class BuiltInModelTests
{
    const int PerSuite = 40;

    static readonly Dictionary<string, double> MinimumAccuracy = new()
    {
        // measured at commit (40/suite, test split): existence 95.0 (mean over random/popular/adversarial),
        // counting 87.5, attribute 87.5, spatial 42.5, reading 100, retrieval 40.0
        ["lab-existence"] = 90, ["lab-counting"] = 80, ["lab-attribute"] = 80, ["lab-spatial"] = 35, ["lab-reading"] = 95, ["lab-retrieval"] = 30,
    };

    [Fact]
    public async Task Full_token_accuracy_per_family_stays_above_its_bound()
    {
        string dir = BuiltInModel.Find() ?? throw new InvalidOperationException("models/lab is missing from the repository");
        using var model = LlavaModel.Load(dir);
        var tokenizer = SentencePieceBpeTokenizer.FromModelFolder(dir);
        var answerer = new EngineAnswerer(new LlavaPipeline(model, new ComputeContext(2)), tokenizer, ChatTemplate.LlavaHf, global::TokenSieve.Imaging.AspectMode.Crop, maxNewTokens: 6);
        var datasets = LabEvalDatasets.Load(LabSplit.Test, PerSuite);
        var report = new List<string>();
        foreach (var ds in datasets)
        {
            var answers = new Dictionary<string, string>();
            foreach (var item in ds.Items)
                answers[item.QuestionId] = (await answerer.Answer(new AnswerRequest(item, MethodSpec.None, 0), default)).Text;
            var score = Scoring.Score(ds, answers);
            double accuracy = ds.Kind == TaskKind.Pope ? score.Metrics["mean_accuracy"] : score.Main;
            report.Add($"{ds.Task}: {accuracy:F1}");
            Assert.True(accuracy >= MinimumAccuracy[ds.Task], $"{ds.Task}: accuracy {accuracy:F1} < bound {MinimumAccuracy[ds.Task]} ({string.Join("; ", report)})");
        }
    }
}
