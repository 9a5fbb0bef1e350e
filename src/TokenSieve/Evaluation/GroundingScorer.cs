using System.Globalization;
using System.Text.RegularExpressions;

namespace TokenSieve.Evaluation;

/// <summary>A box [X1, Y1, X2, Y2] (left, top, right, bottom).</summary>
public readonly record struct Box(double X1, double Y1, double X2, double Y2)
{
    public double Area => Math.Max(0, X2 - X1) * Math.Max(0, Y2 - Y1);

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public double IoU(Box other)
    {
        double w = Math.Min(X2, other.X2) - Math.Max(X1, other.X1), h = Math.Min(Y2, other.Y2) - Math.Max(Y1, other.Y1);
        if (w <= 0 || h <= 0) return 0;
        double inter = w * h, union = Area + other.Area - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>"x1,y1,x2,y2" with round-trip precision (how a grounding item stores its answer).</summary>
    public override string ToString() => string.Join(",", new[] { X1, Y1, X2, Y2 }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    public static Box Parse(string text)
    {
        var p = text.Split(',');
        if (p.Length != 4) throw new FormatException($"a box is four comma-separated numbers, got '{text}'");
        var v = p.Select(s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        return new Box(v[0], v[1], v[2], v[3]);
    }
}

/// <summary>Referring-expression grounding (RefCOCO / RefCOCO+ / RefCOCOg, the lab's grounding family)
/// in LLaVA-1.5's convention: the answer is <c>[x1, y1, x2, y2]</c> normalised to the image padded to
/// a square (expand2square: the short side centred), two decimals in LLaVA's training data. A
/// prediction is correct when its IoU with the ground truth is at least 0.5 (Acc@0.5); an answer
/// without four numbers is a parse failure, counted wrong and reported.</summary>
public static class GroundingScorer
{
    public const double Threshold = 0.5;

    static readonly Regex Number = new(@"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", RegexOptions.CultureInvariant);

    /// <summary>A COCO box [x, y, w, h] in pixels of a <paramref name="width"/>×<paramref name="height"/>
    /// image, as LLaVA-1.5 states it: normalised to the padded square.</summary>
    public static Box ToPaddedSquare(double x, double y, double w, double h, int width, int height)
    {
        double side = Math.Max(width, height);
        double ox = (side - width) / 2, oy = (side - height) / 2;
        return new Box((x + ox) / side, (y + oy) / side, (x + w + ox) / side, (y + h + oy) / side);
    }

    /// <summary>The first four numbers of the answer as a box (a reversed pair is put in order), or
    /// null when there are fewer than four (lmms-eval scores that as the box [0,0,0,0]: IoU 0 either
    /// way). No rescaling: the convention is LLaVA-1.5's 0..1.</summary>
    public static Box? Parse(string text)
    {
        var m = Number.Matches(text ?? "");
        if (m.Count < 4) return null;
        var v = new double[4];
        for (int i = 0; i < 4; i++)
            if (!double.TryParse(m[i].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) || !double.IsFinite(v[i])) return null;
        return new Box(Math.Min(v[0], v[2]), Math.Min(v[1], v[3]), Math.Max(v[0], v[2]), Math.Max(v[1], v[3]));
    }

    /// <summary>IoU of the answer with the stored ground truth; null for a parse failure.</summary>
    public static double? IoU(string text, string groundTruth) => Parse(text) is { } b ? b.IoU(Box.Parse(groundTruth)) : null;

    public static bool IsCorrect(string text, string groundTruth) => IoU(text, groundTruth) is double iou && iou >= Threshold;
}
