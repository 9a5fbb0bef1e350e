using System.CommandLine;
using Spectre.Console;
using TokenSieve.Lab.Scenes;
using TokenSieve.Lab.Text;
using TokenSieve.Lab.Training;
using TokenSieve.Numerics;

namespace TokenSieve.Cli.Commands;

/// <summary>`tokensieve train-lab`: rebuilds the built-in lab model from scratch, reproducibly, and
/// saves it in the llava-hf layout so `run`, `dump`, `bench` and `demo` load it like any checkpoint.</summary>
public static class TrainLabCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "model folder to write", DefaultValueFactory = _ => BuiltInModel.RelativePath };
        var seed = new Option<ulong>("--seed") { Description = "training seed (data, initialisation)", DefaultValueFactory = _ => LabDataset.DefaultSeed };
        var visionSteps = new Option<int?>("--vision-steps") { Description = "stage 1 steps (vision tower with the [CLS] objective)" }.Range(0, 10_000_000);
        var decoderSteps = new Option<int?>("--decoder-steps") { Description = "stage 2 steps (projector + decoder on question answering)" }.Range(0, 10_000_000);
        var dtype = new Option<string>("--dtype") { Description = "stored weight dtype: f32 or f16", DefaultValueFactory = _ => "f32" };
        var validationPerSuite = new Option<int>("--validation-per-suite") { Description = "validation items per suite evaluated after training", DefaultValueFactory = _ => LabDataset.ValidationPerFamily }.Range(0, 1_000_000);
        var testPerSuite = new Option<int>("--test-per-suite") { Description = "test items per suite, evaluated once after training (never used for training or selection)", DefaultValueFactory = _ => LabDataset.TestPerFamily }.Range(0, 1_000_000);
        var cmd = new Command("train-lab", "Rebuild the built-in lab model from scratch (two stages like CLIP -> LLaVA) and save it in the llava-hf layout.")
        {
            output, seed, visionSteps, decoderSteps, dtype, validationPerSuite, testPerSuite,
        };
        cmd.SetAction((p, cancel) =>
        {
            var defaults = new LabTrainingOptions();
            var options = defaults with
            {
                Seed = p.GetValue(seed),
                VisionSteps = p.GetValue(visionSteps) ?? defaults.VisionSteps,
                DecoderSteps = p.GetValue(decoderSteps) ?? defaults.DecoderSteps,
            };
            var dt = SynthCommand.ParseDType(p.GetValue(dtype)!);
            if (dt == DType.BF16) throw new InvalidInputException("--dtype bf16 is not offered for the lab model (f32 or f16)");
            string dir = p.GetValue(output)!;
            LabBuildReport? report = null;
            void Build(IProgress<LabTrainingProgress> progress) =>
                report = LabBuild.Run(options, dir, LabTokenizerModel.Serialize, p.GetValue(validationPerSuite), p.GetValue(testPerSuite), dt, progress, cancel);
            if (Console.IsOutputRedirected)
            {
                var last = DateTime.MinValue;
                Build(new Progress<LabTrainingProgress>(x =>
                {
                    if ((DateTime.UtcNow - last).TotalSeconds < 10 && x.Step < x.TotalSteps) return;
                    last = DateTime.UtcNow;
                    Console.WriteLine($"{x.Stage} step {x.Step}/{x.TotalSteps} loss {x.Loss:F4} ({x.SecondsPerStep * 1000:F0} ms/step, {x.ElapsedSeconds / 60:F1} min)");
                }));
            }
            else
            {
                AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        Build(new Progress<LabTrainingProgress>(x =>
                        {
                            if (!tasks.TryGetValue(x.Stage, out var t)) tasks[x.Stage] = t = ctx.AddTask(x.Stage, maxValue: x.TotalSteps);
                            t.Value = x.Step;
                            t.Description = x.Loss > 0 ? $"{x.Stage} loss {x.Loss:F4}" : x.Stage;
                        }));
                    });
            }
            var r = report!;
            Console.WriteLine($"trained in {r.TrainingSeconds / 60:F1} min; saved to {r.Directory}");
            foreach (var v in r.Validation) Console.WriteLine($"validation {v.Suite}: {v.Accuracy:P1} ({v.Correct}/{v.Total})");
            foreach (var t in r.Test) Console.WriteLine($"test {t.Suite}: {t.Accuracy:P1} ({t.Correct}/{t.Total})");
            if (r.PruMergeKept.Count > 0)
            {
                var k = r.PruMergeKept.OrderBy(x => x).ToArray();
                Console.WriteLine($"PruMerge IQR outliers on {k.Length} validation scenes: min {k[0]}, median {k[k.Length / 2]}, max {k[^1]}, mean {k.Average():F1}");
            }
            return Task.FromResult(0);
        });
        return cmd;
    }
}
