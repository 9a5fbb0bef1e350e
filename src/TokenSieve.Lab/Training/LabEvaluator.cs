using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;

namespace TokenSieve.Lab.Training;

public sealed record LabSuiteResult(string Suite, int Correct, int Total)
{
    public double Accuracy => Total == 0 ? 0 : Correct / (double)Total;
}

/// <summary>Greedy answering with the trainer's own forward pass (full tokens, no reduction), scored
/// by exact match per suite. The engine's evaluation runs the saved checkpoint instead; this one
/// is for model selection on the validation split and for the training report.</summary>
public static class LabEvaluator
{
    public const int MaxAnswerTokens = 6;

    public static string Answer(LabModel model, Scene scene, string question, VisionActivations va, ProjectorActivations pa, DecoderActivations da,
        LabPrompt.ImageSplitStyle style = LabPrompt.ImageSplitStyle.OriginalLlava)
    {
        var c = model.Config;
        var pixels = LabImage.ToPixelValues(scene.Render(), c.ImageSize);
        model.VisionForward(pixels, va, c.FeatureLayers);
        model.ProjectorForward(va.Hidden[c.FeatureLayers].AsSpan(c.VisionHidden, c.NumPatches * c.VisionHidden), pa, c.NumPatches);
        var tokens = LabPrompt.Prompt(question, c.NumPatches, style);
        var answer = new List<int>();
        for (int step = 0; step < MaxAnswerTokens; step++)
        {
            model.BuildInputs(tokens.ToArray(), pa.Output, da);
            model.DecoderForward(da, tokens.Count, [tokens.Count - 1]);
            var logits = da.Logits.AsSpan(0, c.VocabSize);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            if (best == c.EosTokenId) break;
            answer.Add(best);
            tokens.Add(best);
        }
        return LabTokenizer.Decode(answer).Trim();
    }

    /// <summary>Accuracy per suite on <paramref name="perSuite"/> items of a split, items in parallel
    /// (results do not depend on the thread count).</summary>
    public static IReadOnlyList<LabSuiteResult> Evaluate(LabModel model, LabSplit split, int perSuite, ulong seed = LabDataset.DefaultSeed,
        IProgress<string>? progress = null, CancellationToken ct = default)
    {
        var results = new List<LabSuiteResult>();
        int workers = Math.Max(1, Environment.ProcessorCount);
        var pools = Enumerable.Range(0, workers).Select(_ => (new VisionActivations(model.Config), new ProjectorActivations(model.Config), new DecoderActivations(model.Config, model.Config.MaxPositions))).ToArray();
        foreach (var suite in LabDataset.Suites)
        {
            var items = LabDataset.Suite(seed, split, suite.Name, perSuite).ToArray();
            var correct = new bool[items.Length];
            Parallel.For(0, workers, new ParallelOptions { CancellationToken = ct }, w =>
            {
                var (va, pa, da) = pools[w];
                for (int i = w; i < items.Length; i += workers)
                    correct[i] = Answer(model, items[i].Scene, items[i].Question.Text, va, pa, da) == items[i].Question.Answer;
            });
            var r = new LabSuiteResult(suite.Name, correct.Count(x => x), items.Length);
            results.Add(r);
            progress?.Report($"{split} {r.Suite}: {r.Correct}/{r.Total} = {r.Accuracy:P1}");
        }
        return results;
    }
}
