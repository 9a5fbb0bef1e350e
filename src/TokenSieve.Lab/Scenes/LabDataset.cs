namespace TokenSieve.Lab.Scenes;

public enum LabSplit { Train, Validation, Test }

/// <summary>A scene with one question about it.</summary>
public sealed record LabItem(LabSplit Split, int Index, Scene Scene, LabQuestion Question);

/// <summary>A scene with several questions, the unit the decoder is trained on (LLaVA-style
/// multi-turn: one image, several question/answer turns).</summary>
public sealed record LabConversation(Scene Scene, IReadOnlyList<LabQuestion> Turns);

/// <summary>The fixed splits. An item is a pure function of (lab seed, split, family, index): the
/// split is part of the seed of every scene, so train, validation and test never share a stream.
/// Validation is for model selection; test is only ever evaluated, never trained or selected on.</summary>
public static class LabDataset
{
    /// <summary>The default lab seed the built-in model is trained with.</summary>
    public const ulong DefaultSeed = 20261122;

    /// <summary>Evaluation set sizes per family (existence: per POPE setting).</summary>
    public const int ValidationPerFamily = 100, TestPerFamily = 300;

    /// <summary>Scene kind a family is asked on, and whether it needs a card.</summary>
    public static (SceneKind Kind, bool? Card) SceneFor(LabFamily family) => family switch
    {
        LabFamily.Retrieval => (SceneKind.Haystack, false),
        LabFamily.Reading => (SceneKind.Standard, true),
        _ => (SceneKind.Standard, null),
    };

    static ulong SceneSeed(ulong labSeed, LabSplit split, ulong stream, int index) =>
        LabRandom.Mix(labSeed, (ulong)split + 1, stream, (ulong)index);

    /// <summary>Item <paramref name="index"/> of a family's evaluation list in a split. For
    /// existence, <paramref name="popeSetting"/> picks random / popular / adversarial.</summary>
    public static LabItem Item(ulong labSeed, LabSplit split, LabFamily family, int index, string? popeSetting = null)
    {
        ulong stream = (ulong)family * 16 + (popeSetting is null ? 0UL : (ulong)Array.IndexOf(QuestionGenerator.PopeSettings, popeSetting) + 1);
        for (int attempt = 0; ; attempt++)
        {
            ulong seed = SceneSeed(labSeed, split, stream, index) + (ulong)attempt * 0x51ED27UL;
            var (kind, card) = SceneFor(family);
            var scene = SceneGenerator.Generate(seed, kind, card);
            var rng = new LabRandom(LabRandom.Mix(seed, 0x7175657374UL));
            var q = QuestionGenerator.Ask(scene, family, rng, popeSetting);
            if (q is not null) return new LabItem(split, index, scene, q);
        }
    }

    /// <summary>The evaluation list of one family (existence: one POPE setting) in a split.</summary>
    public static IEnumerable<LabItem> Items(ulong labSeed, LabSplit split, LabFamily family, int count, string? popeSetting = null)
    {
        for (int i = 0; i < count; i++) yield return Item(labSeed, split, family, i, popeSetting);
    }

    /// <summary>The named evaluation suites: existence-random/-popular/-adversarial, counting,
    /// attribute, spatial, reading, retrieval.</summary>
    public static IReadOnlyList<(string Name, LabFamily Family, string? PopeSetting)> Suites { get; } =
    [
        ("existence-random", LabFamily.Existence, "random"),
        ("existence-popular", LabFamily.Existence, "popular"),
        ("existence-adversarial", LabFamily.Existence, "adversarial"),
        ("counting", LabFamily.Counting, null),
        ("attribute", LabFamily.Attribute, null),
        ("spatial", LabFamily.Spatial, null),
        ("reading", LabFamily.Reading, null),
        ("retrieval", LabFamily.Retrieval, null),
    ];

    public static IEnumerable<LabItem> Suite(ulong labSeed, LabSplit split, string suiteName, int count)
    {
        var s = Suites.FirstOrDefault(x => x.Name == suiteName);
        if (s.Name is null) throw new ArgumentException($"unknown lab suite '{suiteName}' (known: {string.Join(", ", Suites.Select(x => x.Name))})", nameof(suiteName));
        return Items(labSeed, split, s.Family, count, s.PopeSetting);
    }

    /// <summary>Training conversation <paramref name="index"/>: a scene (haystack one time in six)
    /// with up to <paramref name="turns"/> questions from the families the scene supports.</summary>
    public static LabConversation TrainingConversation(ulong labSeed, int index, int turns)
    {
        ulong seed = SceneSeed(labSeed, LabSplit.Train, 0xC0417E75UL, index);
        var rng = new LabRandom(LabRandom.Mix(seed, 0x7175657374UL));
        var kind = rng.Next(6) == 0 ? SceneKind.Haystack : SceneKind.Standard;
        var scene = SceneGenerator.Generate(seed, kind);
        var families = QuestionGenerator.FamiliesFor(scene);
        var list = new List<LabQuestion>(turns);
        var seen = new HashSet<string>();
        for (int attempt = 0; list.Count < turns && attempt < turns * 4; attempt++)
        {
            var q = QuestionGenerator.Ask(scene, rng.Pick(families), rng);
            if (q is not null && seen.Add(q.Text)) list.Add(q);
        }
        return new LabConversation(scene, list);
    }

    /// <summary>Training scene <paramref name="index"/> for the vision stage (a CLS objective needs
    /// no questions).</summary>
    public static Scene TrainingScene(ulong labSeed, int index)
    {
        ulong seed = SceneSeed(labSeed, LabSplit.Train, 0x5CE7E5UL, index);
        var kind = new LabRandom(seed ^ 0xABCDEFUL).Next(6) == 0 ? SceneKind.Haystack : SceneKind.Standard;
        return SceneGenerator.Generate(seed, kind);
    }
}
