using TokenSieve.Lab.Scenes;

namespace TokenSieve.Lab.Training;

/// <summary>The stage-1 objective: from the final [CLS] state (after post_layernorm) a linear head
/// predicts what is in the scene — which (colour, shape) pairs are present (sigmoid), each present
/// object's size (sigmoid) and quadrant (softmax over 4), the object count (softmax) and the card's
/// digits (softmax over 10 digits + "none" per position). Everything the question families ask is
/// in these targets, so [CLS] must gather it from the patches that hold it: its attention
/// concentrates on objects and the card, as CLIP's does on salient content, which is what
/// PruMerge's IQR rule and FasterVLM's ranking rely on.</summary>
public static class ClsObjective
{
    static readonly int Pairs = SceneGenerator.Colours.Length * SceneGenerator.Shapes.Length;
    public const int MaxCount = SceneGenerator.MaxHaystackObjects, DigitSlots = 3, DigitClasses = 11;

    public static int PresenceOffset => 0;
    public static int SizeOffset => Pairs;
    public static int QuadrantOffset => 2 * Pairs;
    public static int CountOffset => 6 * Pairs;
    public static int DigitOffset => CountOffset + MaxCount + 1;
    public static int Outputs => DigitOffset + DigitSlots * DigitClasses;

    static int PairIndex(LabColour c, LabShape s) => (int)c * SceneGenerator.Shapes.Length + (int)s;

    /// <summary>Loss for one scene; writes dlogits (scaled by <paramref name="weight"/>). The digit
    /// terms are scaled by <paramref name="digitWeight"/> on top: they decide how much of [CLS]'s
    /// attention the card draws away from the objects.</summary>
    public static float LossAndGradient(ReadOnlySpan<float> logits, Scene scene, float weight, Span<float> dlogits, float digitWeight = 1f)
    {
        dlogits[..Outputs].Clear();
        double loss = 0;
        for (int p = 0; p < Pairs; p++)
        {
            var o = scene.Objects.FirstOrDefault(x => PairIndex(x.Colour, x.Shape) == p);
            loss += Layers.SigmoidCrossEntropy(logits[PresenceOffset + p], o is null ? 0 : 1, weight, out dlogits[PresenceOffset + p]);
            if (o is null) continue;
            loss += Layers.SigmoidCrossEntropy(logits[SizeOffset + p], o.Size == LabSize.Large ? 1 : 0, weight, out dlogits[SizeOffset + p]);
            int quadrant = (o.Row < Scene.GridCells / 2 ? 0 : 2) + (o.Col < Scene.GridCells / 2 ? 0 : 1);
            loss += Layers.CrossEntropyForwardBackward(logits.Slice(QuadrantOffset + 4 * p, 4), quadrant, weight, dlogits.Slice(QuadrantOffset + 4 * p, 4));
        }
        loss += Layers.CrossEntropyForwardBackward(logits.Slice(CountOffset, MaxCount + 1), scene.Objects.Count, weight, dlogits.Slice(CountOffset, MaxCount + 1));
        string digits = scene.Card?.Digits ?? "";
        for (int s = 0; s < DigitSlots; s++)
        {
            int cls = s < digits.Length ? digits[s] - '0' : 10;
            loss += digitWeight * Layers.CrossEntropyForwardBackward(logits.Slice(DigitOffset + s * DigitClasses, DigitClasses), cls, weight * digitWeight, dlogits.Slice(DigitOffset + s * DigitClasses, DigitClasses));
        }
        return (float)loss;
    }

    /// <summary>Whether the head's decoded scene description is exactly right, per part: the set of
    /// present pairs, the count, the digit string.</summary>
    public static (bool Presence, bool Count, bool Digits) Score(ReadOnlySpan<float> logits, Scene scene)
    {
        bool presence = true;
        for (int p = 0; p < Pairs; p++)
        {
            bool present = scene.Objects.Any(x => PairIndex(x.Colour, x.Shape) == p);
            if ((logits[PresenceOffset + p] > 0) != present) presence = false;
        }
        bool count = ArgMax(logits.Slice(CountOffset, MaxCount + 1)) == scene.Objects.Count;
        string digits = scene.Card?.Digits ?? "";
        bool ok = true;
        for (int s = 0; s < DigitSlots; s++)
        {
            int cls = s < digits.Length ? digits[s] - '0' : 10;
            if (ArgMax(logits.Slice(DigitOffset + s * DigitClasses, DigitClasses)) != cls) ok = false;
        }
        return (presence, count, ok);
    }

    static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
