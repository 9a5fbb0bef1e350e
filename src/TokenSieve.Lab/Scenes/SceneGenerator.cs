namespace TokenSieve.Lab.Scenes;

/// <summary>Draws scenes from a seed. The (colour, shape) prior is deliberately skewed, so that
/// some objects are "popular" — the POPE popular-negative setting needs a frequency ranking.</summary>
public static class SceneGenerator
{
    public static readonly LabShape[] Shapes = Enum.GetValues<LabShape>();
    public static readonly LabColour[] Colours = Enum.GetValues<LabColour>();

    /// <summary>Prior weights; popularity of a (colour, shape) pair is the product.</summary>
    static readonly double[] ColourPrior = [0.26, 0.20, 0.17, 0.14, 0.12, 0.11];
    static readonly double[] ShapePrior = [0.28, 0.24, 0.20, 0.16, 0.12];

    public static double Popularity(LabColour c, LabShape s) => ColourPrior[(int)c] * ShapePrior[(int)s];

    /// <summary>All (colour, shape) pairs, most popular first (ties by enum order).</summary>
    public static readonly IReadOnlyList<(LabColour Colour, LabShape Shape)> PairsByPopularity =
        (from c in Colours from s in Shapes select (c, s))
        .OrderByDescending(p => Popularity(p.c, p.s)).ThenBy(p => (int)p.c).ThenBy(p => (int)p.s).ToArray();

    public const int MaxStandardObjects = 6;
    public const int MinHaystackObjects = 10, MaxHaystackObjects = 13;

    /// <param name="withCard">null: a card with probability 0.5; true/false forces it.</param>
    public static Scene Generate(ulong seed, SceneKind kind, bool? withCard = null)
    {
        var rng = new LabRandom(seed);
        var freeCells = new List<(int R, int C)>();
        for (int r = 0; r < Scene.GridCells; r++)
            for (int c = 0; c < Scene.GridCells; c++) freeCells.Add((r, c));

        DigitCard? card = null;
        if (kind == SceneKind.Standard && (withCard ?? rng.Chance(0.5)))
        {
            int row = rng.Next(Scene.GridCells), col = rng.Next(Scene.GridCells - 1);
            int len = rng.Range(2, 3);
            var digits = new char[len];
            for (int i = 0; i < len; i++) digits[i] = (char)('0' + rng.Next(10));
            card = new DigitCard(new string(digits), row, col);
            freeCells.Remove((row, col));
            freeCells.Remove((row, col + 1));
        }

        int count = kind == SceneKind.Standard
            ? rng.Range(1, MaxStandardObjects)
            : rng.Range(MinHaystackObjects, MaxHaystackObjects);
        rng.Shuffle(freeCells);
        var pairs = PairsByPopularity.ToList();
        var objects = new List<SceneObject>(count);
        for (int i = 0; i < count; i++)
        {
            // weighted draw without replacement from the skewed prior
            double total = pairs.Sum(p => Popularity(p.Colour, p.Shape));
            double u = rng.NextDouble() * total;
            int k = 0;
            for (; k < pairs.Count - 1; k++)
            {
                u -= Popularity(pairs[k].Colour, pairs[k].Shape);
                if (u < 0) break;
            }
            var (colour, shape) = pairs[k];
            pairs.RemoveAt(k);
            var size = kind == SceneKind.Haystack ? LabSize.Small : (rng.Chance(0.5) ? LabSize.Large : LabSize.Small);
            var (row2, col2) = freeCells[i];
            int jitter = size == LabSize.Large ? 2 : 4;
            int cx = col2 * Scene.CellSize + Scene.CellSize / 2 + rng.Range(-jitter, jitter);
            int cy = row2 * Scene.CellSize + Scene.CellSize / 2 + rng.Range(-jitter, jitter);
            objects.Add(new SceneObject(shape, colour, size, row2, col2, cx, cy));
        }
        // raster order of cells, so that descriptions and tests read naturally
        objects.Sort((a, b) => (a.Row * Scene.GridCells + a.Col).CompareTo(b.Row * Scene.GridCells + b.Col));

        byte level = (byte)rng.Range(200, 240);
        return new Scene(kind, seed, objects, card, level,
            (sbyte)rng.Range(-10, 10), (sbyte)rng.Range(-10, 10), (sbyte)rng.Range(-10, 10));
    }
}
