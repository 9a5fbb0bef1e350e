namespace TokenSieve.Lab.Scenes;

/// <summary>Question families, each scored on its own. Existence is POPE-style and is reported per
/// negative-sampling setting (<see cref="LabQuestion.Variant"/>).</summary>
public enum LabFamily { Existence, Counting, Attribute, Spatial, Reading, Retrieval }

/// <summary>One question about one scene. <see cref="Answer"/> is the exact expected answer text
/// (lower-case words or digits); scoring is exact match after trimming.</summary>
public sealed record LabQuestion(LabFamily Family, string Variant, string Text, string Answer);

/// <summary>Builds questions about a scene. Every generator is a pure function of (scene, rng).</summary>
public static class QuestionGenerator
{
    public static readonly string[] PopeSettings = ["random", "popular", "adversarial"];

    public static string Name(LabColour c) => c.ToString().ToLowerInvariant();
    public static string Name(LabShape s) => s.ToString().ToLowerInvariant();
    public static string Plural(LabShape s) => s == LabShape.Cross ? "crosses" : Name(s) + "s";
    public static string Name(LabSize s) => s.ToString().ToLowerInvariant();
    static string Named(SceneObject o) => $"{Name(o.Colour)} {Name(o.Shape)}";

    /// <summary>Which families can be asked about this scene.</summary>
    public static IReadOnlyList<LabFamily> FamiliesFor(Scene scene) => scene.Kind switch
    {
        SceneKind.Haystack => [LabFamily.Retrieval],
        _ => scene.Card is null
            ? [LabFamily.Existence, LabFamily.Counting, LabFamily.Attribute, LabFamily.Spatial]
            : [LabFamily.Existence, LabFamily.Counting, LabFamily.Attribute, LabFamily.Spatial, LabFamily.Reading],
    };

    /// <summary>A question of <paramref name="family"/>; null when the scene cannot support it
    /// (reading without a card, a relation with one object, retrieval outside a haystack).</summary>
    public static LabQuestion? Ask(Scene scene, LabFamily family, LabRandom rng, string? popeSetting = null) => family switch
    {
        LabFamily.Existence => Existence(scene, rng, popeSetting ?? rng.Pick(PopeSettings)),
        LabFamily.Counting => Counting(scene, rng),
        LabFamily.Attribute => Attribute(scene, rng),
        LabFamily.Spatial => Spatial(scene, rng),
        LabFamily.Reading => Reading(scene),
        LabFamily.Retrieval => Retrieval(scene, rng),
        _ => throw new ArgumentOutOfRangeException(nameof(family)),
    };

    /// <summary>POPE: half the questions ask about a present object, half about an absent one chosen
    /// by the setting — random (any absent pair), popular (among the three most frequent absent
    /// pairs under the scene prior) or adversarial (an absent pair sharing a colour or a shape with
    /// a present object, the analogue of POPE's co-occurring objects).</summary>
    public static LabQuestion? Existence(Scene scene, LabRandom rng, string setting)
    {
        if (scene.Objects.Count == 0 || scene.Kind != SceneKind.Standard) return null;
        bool positive = rng.Chance(0.5);
        (LabColour C, LabShape S) pick;
        if (positive)
        {
            var o = rng.Pick(scene.Objects);
            pick = (o.Colour, o.Shape);
        }
        else
        {
            var absent = SceneGenerator.PairsByPopularity.Where(p => scene.Find(p.Colour, p.Shape) is null).ToList();
            List<(LabColour, LabShape)> pool = setting switch
            {
                "random" => absent,
                "popular" => absent.Take(3).ToList(),
                "adversarial" => absent.Where(p => scene.Objects.Any(o => o.Colour == p.Colour || o.Shape == p.Shape)).ToList(),
                _ => throw new ArgumentException($"unknown POPE setting '{setting}'", nameof(setting)),
            };
            if (pool.Count == 0) pool = absent;
            pick = rng.Pick(pool);
        }
        return new LabQuestion(LabFamily.Existence, setting, $"is there a {Name(pick.C)} {Name(pick.S)}?", positive ? "yes" : "no");
    }

    public static LabQuestion? Counting(Scene scene, LabRandom rng)
    {
        if (scene.Kind != SceneKind.Standard) return null;
        switch (rng.Next(3))
        {
            case 0:
                return new LabQuestion(LabFamily.Counting, "objects", "how many objects are there?", scene.Objects.Count.ToString());
            case 1:
            {
                // ask mostly about shapes that are present, sometimes about absent ones (answer 0)
                var shape = scene.Objects.Count > 0 && rng.Chance(0.8) ? rng.Pick(scene.Objects).Shape : rng.Pick(SceneGenerator.Shapes);
                int n = scene.Objects.Count(o => o.Shape == shape);
                return new LabQuestion(LabFamily.Counting, "shape", $"how many {Plural(shape)} are there?", n.ToString());
            }
            default:
            {
                var colour = scene.Objects.Count > 0 && rng.Chance(0.8) ? rng.Pick(scene.Objects).Colour : rng.Pick(SceneGenerator.Colours);
                int n = scene.Objects.Count(o => o.Colour == colour);
                return new LabQuestion(LabFamily.Counting, "colour", $"how many {Name(colour)} objects are there?", n.ToString());
            }
        }
    }

    /// <summary>Colour of the only object of a shape, shape of the only object of a colour, or the
    /// size of a named object.</summary>
    public static LabQuestion? Attribute(Scene scene, LabRandom rng)
    {
        if (scene.Kind != SceneKind.Standard || scene.Objects.Count == 0) return null;
        var uniqueShape = scene.Objects.Where(o => scene.Objects.Count(p => p.Shape == o.Shape) == 1).ToList();
        var uniqueColour = scene.Objects.Where(o => scene.Objects.Count(p => p.Colour == o.Colour) == 1).ToList();
        int kind = rng.Next(3);
        if (kind == 0 && uniqueShape.Count > 0)
        {
            var o = rng.Pick(uniqueShape);
            return new LabQuestion(LabFamily.Attribute, "colour", $"what colour is the {Name(o.Shape)}?", Name(o.Colour));
        }
        if (kind == 1 && uniqueColour.Count > 0)
        {
            var o = rng.Pick(uniqueColour);
            return new LabQuestion(LabFamily.Attribute, "shape", $"what shape is the {Name(o.Colour)} object?", Name(o.Shape));
        }
        var s = rng.Pick(scene.Objects);
        return new LabQuestion(LabFamily.Attribute, "size", $"what size is the {Named(s)}?", Name(s.Size));
    }

    /// <summary>"is the A left of / right of / above / below the B?" for two objects in different
    /// columns (left/right) or rows (above/below); yes and no are equally likely.</summary>
    public static LabQuestion? Spatial(Scene scene, LabRandom rng)
    {
        if (scene.Kind != SceneKind.Standard || scene.Objects.Count < 2) return null;
        bool horizontal = rng.Chance(0.5);
        var pairs = (from a in scene.Objects from b in scene.Objects
                     where horizontal ? a.Col < b.Col : a.Row < b.Row
                     select (a, b)).ToList();
        if (pairs.Count == 0)
        {
            horizontal = !horizontal;
            pairs = (from a in scene.Objects from b in scene.Objects
                     where horizontal ? a.Col < b.Col : a.Row < b.Row
                     select (a, b)).ToList();
        }
        var (first, second) = rng.Pick(pairs); // first is left of / above second
        bool askTrue = rng.Chance(0.5);
        bool flipWording = rng.Chance(0.5);
        string rel = horizontal ? (flipWording ? "right of" : "left of") : (flipWording ? "below" : "above");
        // with the flipped wording, the true statement is "second rel first"
        var (subject, reference) = flipWording ? (second, first) : (first, second);
        if (!askTrue) (subject, reference) = (reference, subject);
        return new LabQuestion(LabFamily.Spatial, horizontal ? "horizontal" : "vertical",
            $"is the {Named(subject)} {rel} the {Named(reference)}?", askTrue ? "yes" : "no");
    }

    public static LabQuestion? Reading(Scene scene) =>
        scene.Card is { } card ? new LabQuestion(LabFamily.Reading, $"{card.Digits.Length}digits", "what number is on the card?", card.Digits) : null;

    /// <summary>Visual-Haystack-style: many small distractors, one target named by colour and shape;
    /// the answer is its quadrant.</summary>
    public static LabQuestion? Retrieval(Scene scene, LabRandom rng)
    {
        if (scene.Kind != SceneKind.Haystack || scene.Objects.Count == 0) return null;
        var o = rng.Pick(scene.Objects);
        return new LabQuestion(LabFamily.Retrieval, "quadrant", $"where is the {Named(o)}?", Quadrant(o));
    }

    public static string Quadrant(SceneObject o) =>
        (o.Row < Scene.GridCells / 2 ? "top" : "bottom") + " " + (o.Col < Scene.GridCells / 2 ? "left" : "right");
}
