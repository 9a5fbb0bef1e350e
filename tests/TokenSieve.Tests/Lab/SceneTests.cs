using TokenSieve.Lab.Scenes;

namespace TokenSieve.Tests.Lab;

public class SceneTests
{
    const ulong Seed = LabDataset.DefaultSeed;

    [Fact]
    public void ScenesAreDeterministicAndModelSized()
    {
        var a = SceneGenerator.Generate(123, SceneKind.Standard, withCard: true);
        var b = SceneGenerator.Generate(123, SceneKind.Standard, withCard: true);
        Assert.Equal(a.Objects, b.Objects);
        Assert.Equal(a.Render(), b.Render());
        Assert.Equal(Scene.ImageSize * Scene.ImageSize * 3, a.Render().Length);
        Assert.NotEqual(a.Render(), SceneGenerator.Generate(124, SceneKind.Standard, withCard: true).Render());
        // 8×8 patches of 14 pixels, as the default lab model expects
        Assert.Equal(112, Scene.ImageSize);
    }

    [Fact]
    public void SceneContentFollowsTheRules()
    {
        for (int i = 0; i < 300; i++)
        {
            var kind = i % 3 == 0 ? SceneKind.Haystack : SceneKind.Standard;
            var s = SceneGenerator.Generate((ulong)i, kind);
            Assert.Equal(s.Objects.Count, s.Objects.Select(o => (o.Colour, o.Shape)).Distinct().Count());
            Assert.Equal(s.Objects.Count, s.Objects.Select(o => (o.Row, o.Col)).Distinct().Count());
            if (kind == SceneKind.Haystack)
            {
                Assert.InRange(s.Objects.Count, SceneGenerator.MinHaystackObjects, SceneGenerator.MaxHaystackObjects);
                Assert.Null(s.Card);
                Assert.All(s.Objects, o => Assert.Equal(LabSize.Small, o.Size));
            }
            else Assert.InRange(s.Objects.Count, 1, SceneGenerator.MaxStandardObjects);
            if (s.Card is { } card)
            {
                Assert.InRange(card.Digits.Length, 2, 3);
                Assert.DoesNotContain(s.Objects, o => o.Row == card.Row && (o.Col == card.Col || o.Col == card.Col + 1));
            }
        }
    }

    [Fact]
    public void ObjectsAreDrawnInTheirColourAtTheirCentre()
    {
        var s = SceneGenerator.Generate(77, SceneKind.Standard, withCard: false);
        var img = s.Render();
        foreach (var o in s.Objects)
        {
            int i = (o.CentreY * Scene.ImageSize + o.CentreX) * 3;
            for (int c = 0; c < 3; c++) Assert.InRange(img[i + c], SceneRenderer.Palette[(int)o.Colour, c] - 12, SceneRenderer.Palette[(int)o.Colour, c] + 12);
        }
    }

    [Fact]
    public void AnswersAreTrueOfTheScene()
    {
        foreach (var (name, family, pope) in LabDataset.Suites)
            foreach (var item in LabDataset.Items(Seed, LabSplit.Validation, family, 60, pope))
            {
                var s = item.Scene;
                var q = item.Question;
                Assert.Equal(family, q.Family);
                switch (family)
                {
                    case LabFamily.Existence:
                    {
                        var words = q.Text.TrimEnd('?').Split(' ');
                        var colour = Enum.Parse<LabColour>(words[3], true);
                        var shape = Enum.Parse<LabShape>(words[4], true);
                        Assert.Equal(s.Find(colour, shape) is null ? "no" : "yes", q.Answer);
                        if (q.Answer == "no" && pope == "adversarial")
                            Assert.Contains(s.Objects, o => o.Colour == colour || o.Shape == shape);
                        if (q.Answer == "no" && pope == "popular")
                        {
                            var absent = SceneGenerator.PairsByPopularity.Where(p => s.Find(p.Colour, p.Shape) is null).Take(3);
                            Assert.Contains((colour, shape), absent);
                        }
                        break;
                    }
                    case LabFamily.Counting:
                        Assert.True(int.TryParse(q.Answer, out int n) && n >= 0 && n <= s.Objects.Count, name);
                        if (q.Variant == "objects") Assert.Equal(s.Objects.Count, n);
                        break;
                    case LabFamily.Reading:
                        Assert.Equal(s.Card!.Digits, q.Answer);
                        break;
                    case LabFamily.Retrieval:
                    {
                        var words = q.Text.TrimEnd('?').Split(' ');
                        var o = s.Find(Enum.Parse<LabColour>(words[3], true), Enum.Parse<LabShape>(words[4], true))!;
                        Assert.Equal(QuestionGenerator.Quadrant(o), q.Answer);
                        Assert.Equal(SceneKind.Haystack, s.Kind);
                        break;
                    }
                    case LabFamily.Spatial:
                    {
                        // "is the C1 S1 rel the C2 S2?"
                        var t = q.Text.TrimEnd('?').Replace("left of", "left-of").Replace("right of", "right-of").Split(' ');
                        var a = s.Find(Enum.Parse<LabColour>(t[2], true), Enum.Parse<LabShape>(t[3], true))!;
                        var b = s.Find(Enum.Parse<LabColour>(t[6], true), Enum.Parse<LabShape>(t[7], true))!;
                        bool truth = t[4] switch
                        {
                            "left-of" => a.Col < b.Col, "right-of" => a.Col > b.Col, "above" => a.Row < b.Row, "below" => a.Row > b.Row,
                            _ => throw new InvalidOperationException(q.Text),
                        };
                        Assert.Equal(truth ? "yes" : "no", q.Answer);
                        break;
                    }
                    case LabFamily.Attribute:
                        Assert.Contains(q.Answer, new[] { "small", "large" }.Concat(SceneGenerator.Colours.Select(QuestionGenerator.Name)).Concat(SceneGenerator.Shapes.Select(QuestionGenerator.Name)));
                        break;
                }
            }
    }

    [Fact]
    public void YesNoFamiliesAreBalanced()
    {
        foreach (var family in new[] { LabFamily.Existence, LabFamily.Spatial })
        {
            var answers = LabDataset.Items(Seed, LabSplit.Test, family, 400).Select(i => i.Question.Answer).ToList();
            double yes = answers.Count(a => a == "yes") / (double)answers.Count;
            Assert.InRange(yes, 0.4, 0.6);
        }
    }

    [Fact]
    public void SplitsAreFixedAndDisjoint()
    {
        var test1 = LabDataset.Items(Seed, LabSplit.Test, LabFamily.Counting, 50).Select(i => i.Scene.Seed).ToList();
        var test2 = LabDataset.Items(Seed, LabSplit.Test, LabFamily.Counting, 50).Select(i => i.Scene.Seed).ToList();
        Assert.Equal(test1, test2);
        var validation = LabDataset.Items(Seed, LabSplit.Validation, LabFamily.Counting, 50).Select(i => i.Scene.Seed);
        var train = Enumerable.Range(0, 2000).Select(i => LabDataset.TrainingConversation(Seed, i, 4).Scene.Seed)
            .Concat(Enumerable.Range(0, 2000).Select(i => LabDataset.TrainingScene(Seed, i).Seed)).ToHashSet();
        Assert.Empty(test1.Intersect(validation));
        Assert.DoesNotContain(test1, train.Contains);
        Assert.DoesNotContain(validation, train.Contains);
    }

    [Fact]
    public void TrainingConversationsCoverEveryFamily()
    {
        var families = Enumerable.Range(0, 300).SelectMany(i => LabDataset.TrainingConversation(Seed, i, 4).Turns).Select(t => t.Family).ToHashSet();
        Assert.Equal(Enum.GetValues<LabFamily>().ToHashSet(), families);
    }

    [Fact]
    public void PixelValuesAreClipNormalised()
    {
        var rgb = new byte[2 * 2 * 3];
        rgb[0] = 255; // top-left red channel
        var px = LabImage.ToPixelValues(rgb, 2);
        Assert.Equal((1f - 0.48145466f) / 0.26862954f, px[0], 5);
        Assert.Equal((0f - 0.4578275f) / 0.26130258f, px[4], 5); // green plane, first pixel
    }
}
