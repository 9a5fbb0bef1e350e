using TokenSieve.Lab.Scenes;

namespace TokenSieve.Lab.Training;

/// <summary>Stage 1's dense auxiliary objective: a linear head on every patch token of the feature
/// layer (hidden_states[-2], what the projector will read) predicts what covers that patch — its
/// colour (6 colours, card, background), its shape (5 shapes, card, background) and the card digit
/// whose ink it holds most (10 digits, none). CLIP gets linearly decodable patch features from 400 M
/// image–text pairs; a 2-core budget cannot, and the [CLS] objective alone leaves the patch features
/// too weak for the frozen-tower stage 2. The dense head is dropped at export, like the [CLS] head.</summary>
public static class PatchObjective
{
    public const int ColourClasses = 8, ShapeClasses = 7, DigitClasses = 11;
    public const int Outputs = ColourClasses + ShapeClasses + DigitClasses;
    const int CardClass = 6, Background = 7, ShapeCard = 5, ShapeBackground = 6, NoDigit = 10;

    /// <summary>Per patch (raster order) the (colour, shape, digit) classes.</summary>
    public static (int Colour, int Shape, int Digit)[] Targets(Scene scene, int imageSize, int patch)
    {
        int grid = imageSize / patch;
        var targets = new (int, int, int)[grid * grid];
        var objectHits = new int[scene.Objects.Count];
        var digitHits = new int[3];
        for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++)
            {
                Array.Clear(objectHits);
                Array.Clear(digitHits);
                int cardHits = 0;
                for (int y = gy * patch; y < (gy + 1) * patch; y++)
                    for (int x = gx * patch; x < (gx + 1) * patch; x++)
                    {
                        for (int o = 0; o < scene.Objects.Count; o++)
                        {
                            var ob = scene.Objects[o];
                            int r = ob.Size == LabSize.Large ? SceneRenderer.LargeRadius : SceneRenderer.SmallRadius;
                            if (SceneRenderer.Inside(ob.Shape, x + 0.5 - (ob.CentreX + 0.5), y + 0.5 - (ob.CentreY + 0.5), r)) objectHits[o]++;
                        }
                        if (scene.Card is { } card)
                        {
                            int c = SceneRenderer.CardPixel(card, x, y);
                            if (c >= -1) cardHits++;
                            if (c >= 0) digitHits[c]++;
                        }
                    }
                int best = -1;
                for (int o = 0; o < objectHits.Length; o++) if (objectHits[o] > 0 && (best < 0 || objectHits[o] > objectHits[best])) best = o;
                int minPixels = patch * patch / 10;
                int bestDigit = -1;
                for (int d = 0; d < digitHits.Length; d++) if (digitHits[d] > 0 && (bestDigit < 0 || digitHits[d] > digitHits[bestDigit])) bestDigit = d;
                (int, int, int) t = (Background, ShapeBackground, NoDigit);
                if (best >= 0 && objectHits[best] >= minPixels && objectHits[best] >= cardHits)
                    t = ((int)scene.Objects[best].Colour, (int)scene.Objects[best].Shape, NoDigit);
                else if (cardHits >= minPixels)
                    t = (CardClass, ShapeCard, bestDigit >= 0 && digitHits[bestDigit] >= patch ? scene.Card!.Digits[bestDigit] - '0' : NoDigit);
                targets[gy * grid + gx] = t;
            }
        return targets;
    }

    /// <summary>Loss over all patches; logits and dlogits are [P, <see cref="Outputs"/>].</summary>
    public static float LossAndGradient(ReadOnlySpan<float> logits, (int Colour, int Shape, int Digit)[] targets, float weight, Span<float> dlogits)
    {
        double loss = 0;
        for (int p = 0; p < targets.Length; p++)
        {
            var l = logits.Slice(p * Outputs, Outputs);
            var d = dlogits.Slice(p * Outputs, Outputs);
            loss += Layers.CrossEntropyForwardBackward(l[..ColourClasses], targets[p].Colour, weight, d[..ColourClasses]);
            loss += Layers.CrossEntropyForwardBackward(l.Slice(ColourClasses, ShapeClasses), targets[p].Shape, weight, d.Slice(ColourClasses, ShapeClasses));
            loss += Layers.CrossEntropyForwardBackward(l.Slice(ColourClasses + ShapeClasses, DigitClasses), targets[p].Digit, weight, d.Slice(ColourClasses + ShapeClasses, DigitClasses));
        }
        return (float)loss;
    }
}
