namespace TokenSieve.Lab.Scenes;

/// <summary>Rasterises a <see cref="Scene"/> into RGB bytes: a tinted, lightly noisy background,
/// shapes with 4×4 supersampled antialiasing, and digit cards in a 5×7 bitmap font scaled ×3.</summary>
public static class SceneRenderer
{
    /// <summary>Nominal RGB of each <see cref="LabColour"/>.</summary>
    public static readonly byte[,] Palette =
    {
        { 220, 40, 40 },   // red
        { 40, 165, 60 },   // green
        { 45, 85, 225 },   // blue
        { 235, 210, 35 },  // yellow
        { 150, 55, 190 },  // purple
        { 245, 135, 25 },  // orange
    };

    public const int SmallRadius = 8, LargeRadius = 12;
    const int GlyphScale = 3, GlyphW = 5, GlyphH = 7, GlyphGap = 2;

    /// <summary>5×7 bitmap glyphs for 0–9, one string per row, '#' = ink.</summary>
    static readonly string[][] Glyphs =
    [
        [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        ["####.", "....#", "....#", ".###.", "....#", "....#", "####."],
        ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
        [".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."],
        ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
        [".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."],
    ];

    public static byte[] Render(Scene scene)
    {
        int n = Scene.ImageSize;
        var img = new byte[n * n * 3];
        var noise = new LabRandom(LabRandom.Mix(scene.Seed, 0x6E6F697365UL));
        for (int p = 0; p < n * n; p++)
        {
            int jitter = noise.Range(-6, 6);
            img[p * 3 + 0] = Clamp(scene.BackgroundLevel + scene.TintR + jitter);
            img[p * 3 + 1] = Clamp(scene.BackgroundLevel + scene.TintG + jitter);
            img[p * 3 + 2] = Clamp(scene.BackgroundLevel + scene.TintB + jitter);
        }

        var colourJitter = new LabRandom(LabRandom.Mix(scene.Seed, 0x636F6C6F7572UL));
        foreach (var o in scene.Objects)
        {
            int red = Palette[(int)o.Colour, 0] + colourJitter.Range(-12, 12);
            int green = Palette[(int)o.Colour, 1] + colourJitter.Range(-12, 12);
            int blue = Palette[(int)o.Colour, 2] + colourJitter.Range(-12, 12);
            DrawShape(img, n, o, red, green, blue);
        }
        if (scene.Card is { } card) DrawCard(img, n, card);
        return img;
    }

    static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);

    /// <summary>Is the point (x, y), relative to the centre, inside the shape of radius r?</summary>
    public static bool Inside(LabShape shape, double x, double y, double r) => shape switch
    {
        LabShape.Circle => x * x + y * y <= r * r,
        LabShape.Square => Math.Abs(x) <= r * 0.85 && Math.Abs(y) <= r * 0.85,
        // apex up, base at y = +0.8r; the sides meet the base at ±r
        LabShape.Triangle => y <= 0.8 * r && y >= -r && Math.Abs(x) <= (y + r) / 1.8 * 1.0,
        LabShape.Diamond => Math.Abs(x) + Math.Abs(y) <= r,
        LabShape.Cross => (Math.Abs(x) <= r * 0.33 && Math.Abs(y) <= r) || (Math.Abs(y) <= r * 0.33 && Math.Abs(x) <= r),
        _ => false,
    };

    static void DrawShape(byte[] img, int n, SceneObject o, int red, int green, int blue)
    {
        int r = o.Size == LabSize.Large ? LargeRadius : SmallRadius;
        const int ss = 4;
        for (int py = Math.Max(0, o.CentreY - r - 1); py <= Math.Min(n - 1, o.CentreY + r + 1); py++)
            for (int px = Math.Max(0, o.CentreX - r - 1); px <= Math.Min(n - 1, o.CentreX + r + 1); px++)
            {
                int hits = 0;
                for (int sy = 0; sy < ss; sy++)
                    for (int sx = 0; sx < ss; sx++)
                    {
                        double x = px + (sx + 0.5) / ss - (o.CentreX + 0.5);
                        double y = py + (sy + 0.5) / ss - (o.CentreY + 0.5);
                        if (Inside(o.Shape, x, y, r)) hits++;
                    }
                if (hits == 0) continue;
                double a = hits / (double)(ss * ss);
                int i = (py * n + px) * 3;
                img[i + 0] = Clamp((int)Math.Round(img[i + 0] * (1 - a) + red * a));
                img[i + 1] = Clamp((int)Math.Round(img[i + 1] * (1 - a) + green * a));
                img[i + 2] = Clamp((int)Math.Round(img[i + 2] * (1 - a) + blue * a));
            }
    }

    /// <summary>Top-left of the card's text and its size in pixels.</summary>
    public static (int X0, int Y0, int Width, int Height) CardText(DigitCard card)
    {
        int textW = card.Digits.Length * GlyphW * GlyphScale + (card.Digits.Length - 1) * GlyphGap;
        int textH = GlyphH * GlyphScale;
        int cellX = card.Col * Scene.CellSize, cellY = card.Row * Scene.CellSize;
        return (cellX + (2 * Scene.CellSize - textW) / 2, cellY + (Scene.CellSize - textH) / 2, textW, textH);
    }

    /// <summary>What the card draws at pixel (x, y): -2 outside the card, -1 card background or
    /// outline, otherwise the index of the digit whose ink covers it.</summary>
    public static int CardPixel(DigitCard card, int x, int y)
    {
        var (x0, y0, w, h) = CardText(card);
        if (x < x0 - 3 || x >= x0 + w + 3 || y < y0 - 3 || y >= y0 + h + 3) return -2;
        int step = GlyphW * GlyphScale + GlyphGap;
        int d = (x - x0) / step, gx = (x - x0) % step, gy = y - y0;
        if (x < x0 || gy < 0 || gy >= h || d >= card.Digits.Length || gx >= GlyphW * GlyphScale) return -1;
        return Glyphs[card.Digits[d] - '0'][gy / GlyphScale][gx / GlyphScale] == '#' ? d : -1;
    }

    static void DrawCard(byte[] img, int n, DigitCard card)
    {
        var (x0, y0, textW, textH) = CardText(card);
        // white card with a 2-pixel margin and a dark grey outline
        for (int y = y0 - 3; y < y0 + textH + 3; y++)
            for (int x = x0 - 3; x < x0 + textW + 3; x++)
            {
                bool edge = y == y0 - 3 || y == y0 + textH + 2 || x == x0 - 3 || x == x0 + textW + 2;
                Set(img, n, x, y, edge ? (byte)90 : (byte)250);
            }
        for (int d = 0; d < card.Digits.Length; d++)
        {
            var glyph = Glyphs[card.Digits[d] - '0'];
            int gx = x0 + d * (GlyphW * GlyphScale + GlyphGap);
            for (int gy = 0; gy < GlyphH; gy++)
                for (int gxi = 0; gxi < GlyphW; gxi++)
                {
                    if (glyph[gy][gxi] != '#') continue;
                    for (int sy = 0; sy < GlyphScale; sy++)
                        for (int sx = 0; sx < GlyphScale; sx++)
                            Set(img, n, gx + gxi * GlyphScale + sx, y0 + gy * GlyphScale + sy, 20);
                }
        }
    }

    static void Set(byte[] img, int n, int x, int y, byte v)
    {
        if ((uint)x >= (uint)n || (uint)y >= (uint)n) return;
        int i = (y * n + x) * 3;
        img[i] = img[i + 1] = img[i + 2] = v;
    }
}
