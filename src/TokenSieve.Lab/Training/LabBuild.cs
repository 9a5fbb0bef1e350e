using System.Diagnostics;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Numerics;

namespace TokenSieve.Lab.Training;

/// <summary>What a lab build produced: accuracy per suite on validation and on test (test is
/// evaluated once, after training, and never feeds back into it), PruMerge's kept-token counts on
/// validation scenes, and where the model was written.</summary>
public sealed record LabBuildReport(IReadOnlyList<LabSuiteResult> Validation, IReadOnlyList<LabSuiteResult> Test, IReadOnlyList<int> PruMergeKept,
    double TrainingSeconds, string Directory);

/// <summary>`train-lab` in one call: both training stages, validation, test, save in the llava-hf layout.</summary>
public static class LabBuild
{
    public static LabBuildReport Run(LabTrainingOptions options, string directory, Func<IReadOnlyList<LabPiece>, byte[]>? tokenizerModel,
        int validationPerSuite = LabDataset.ValidationPerFamily, int testPerSuite = LabDataset.TestPerFamily, DType dtype = DType.F32,
        IProgress<LabTrainingProgress>? progress = null, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        var trainer = new LabTrainer(options);
        trainer.Train(progress, ct);
        double trainingSeconds = sw.Elapsed.TotalSeconds;
        var model = trainer.Model;
        var validation = Evaluate(model, LabSplit.Validation, validationPerSuite, options.Seed, "validation", progress, sw, ct);
        var test = Evaluate(model, LabSplit.Test, testPerSuite, options.Seed, "test", progress, sw, ct);
        var kept = LabDiagnostics.PruMergeKeptCounts(model, 100, options.Seed).Select(k => k.Kept).ToArray();
        LabCheckpoint.Save(model, directory, dtype, tokenizerModel);
        return new LabBuildReport(validation, test, kept, trainingSeconds, directory);
    }

    static IReadOnlyList<LabSuiteResult> Evaluate(LabModel model, LabSplit split, int perSuite, ulong seed, string stage,
        IProgress<LabTrainingProgress>? progress, Stopwatch sw, CancellationToken ct)
    {
        int done = 0;
        var results = LabEvaluator.Evaluate(model, split, perSuite, seed, new Relay(line =>
            progress?.Report(new LabTrainingProgress(stage, ++done, LabDataset.Suites.Count, 0, sw.Elapsed.TotalSeconds, 0, line))), ct);
        return results;
    }

    sealed class Relay(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
