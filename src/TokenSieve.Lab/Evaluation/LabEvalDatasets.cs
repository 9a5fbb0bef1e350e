using TokenSieve.Evaluation;
using TokenSieve.Imaging;
using TokenSieve.Lab.Scenes;

namespace TokenSieve.Lab.Evaluation;

/// <summary>The lab suites as evaluation datasets, so `bench --suite lab` runs them through the same
/// runner, scorers and reports as the standard benchmarks. One task per question family:
/// <c>lab-existence</c> is scored POPE-style (its random/popular/adversarial negatives are the
/// splits, the headline is mean F1), the others by exact match. Images are rendered in memory and
/// carried as PNG bytes.</summary>
public static class LabEvalDatasets
{
    public const string TaskPrefix = "lab-";

    /// <summary>Family names accepted by <see cref="Load"/>.</summary>
    public static IReadOnlyList<string> Families { get; } = Enum.GetValues<LabFamily>().Select(f => f.ToString().ToLowerInvariant()).ToArray();

    /// <summary><paramref name="perSuite"/> items of every suite of the given families (all when null)
    /// from <paramref name="split"/>; existence has one suite per POPE setting.</summary>
    public static IReadOnlyList<EvalDataset> Load(LabSplit split, int perSuite, IEnumerable<string>? families = null, ulong seed = LabDataset.DefaultSeed,
        CancellationToken cancel = default)
    {
        if (perSuite <= 0) throw new InvalidInputException($"items per lab suite must be positive, got {perSuite}");
        var wanted = (families ?? Families).Select(f => f.Trim().ToLowerInvariant()).ToList();
        foreach (var f in wanted)
            if (!Families.Contains(f)) throw new InvalidInputException($"unknown lab family '{f}' (known: {string.Join(", ", Families)})");
        var result = new List<EvalDataset>();
        foreach (var family in Enum.GetValues<LabFamily>())
        {
            string name = family.ToString().ToLowerInvariant();
            if (!wanted.Contains(name)) continue;
            var items = new List<EvalItem>();
            foreach (var suite in LabDataset.Suites.Where(s => s.Family == family))
            {
                foreach (var item in LabDataset.Suite(seed, split, suite.Name, perSuite))
                {
                    cancel.ThrowIfCancellationRequested();
                    var image = new RgbImage(Scene.ImageSize, Scene.ImageSize, SceneRenderer.Render(item.Scene));
                    items.Add(new EvalItem
                    {
                        Task = TaskPrefix + name,
                        QuestionId = $"{suite.Name}/{split.ToString().ToLowerInvariant()}/{item.Index}",
                        Question = item.Question.Text,
                        Prompt = item.Question.Text,
                        ImageBytes = PngEncoder.Encode(image),
                        Answers = [item.Question.Answer],
                        Category = suite.PopeSetting ?? item.Question.Variant,
                    });
                }
            }
            result.Add(new EvalDataset
            {
                Task = TaskPrefix + name,
                Kind = family == LabFamily.Existence ? TaskKind.Pope : TaskKind.ExactMatch,
                Items = items,
                Settings = new Dictionary<string, string> { ["lab_split"] = split.ToString().ToLowerInvariant(), ["lab_seed"] = seed.ToString() },
            });
        }
        return result;
    }
}
