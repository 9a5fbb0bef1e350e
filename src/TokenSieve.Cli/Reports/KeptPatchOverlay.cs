using TokenSieve.Imaging;
using TokenSieve.Reduction;

namespace TokenSieve.Cli.Reports;

/// <summary>Draws which patches a reduction used: patches that feed no output token are darkened,
/// the rest tinted by how strongly they contribute (provenance weight), with a frame around the
/// patches the method kept as themselves or as merge centres.</summary>
public static class KeptPatchOverlay
{
    /// <summary>The image (the model's square input view) scaled by <paramref name="scale"/>, with the overlay.</summary>
    public static RgbImage Render(RgbImage image, ReductionResult? result, int scale = 3)
    {
        int w = image.Width * scale, h = image.Height * scale;
        var output = new RgbImage(w, h);
        float[]? weight = result?.PositionGrid(PositionGridMode.Weight);
        float[]? kept = result?.PositionGrid(PositionGridMode.Kept);
        int gh = result?.GridHeight ?? 1, gw = result?.GridWidth ?? 1;
        float max = weight is null ? 1 : Math.Max(1e-12f, weight.Max());
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int sx = x / scale, sy = y / scale;
            int src = (sy * image.Width + sx) * 3, dst = (y * w + x) * 3;
            float r = image.Pixels[src], g = image.Pixels[src + 1], b = image.Pixels[src + 2];
            if (weight is not null)
            {
                int pr = Math.Min(gh - 1, y * gh / h), pc = Math.Min(gw - 1, x * gw / w);
                int p = pr * gw + pc;
                float v = weight[p] / max;
                if (v <= 0)
                {
                    r *= 0.25f; g *= 0.25f; b *= 0.25f;
                }
                else
                {
                    // Blend towards orange in proportion to the contribution.
                    float a = 0.15f + 0.35f * v;
                    r = r * (1 - a) + 255 * a; g = g * (1 - a) + 150 * a; b = b * (1 - a) + 0 * a;
                }
                bool border = IsPatchBorder(x, w, gw) || IsPatchBorder(y, h, gh);
                if (kept![p] > 0 && border) { r = 255; g = 255; b = 255; }
            }
            output.Pixels[dst] = (byte)Math.Clamp(r, 0, 255);
            output.Pixels[dst + 1] = (byte)Math.Clamp(g, 0, 255);
            output.Pixels[dst + 2] = (byte)Math.Clamp(b, 0, 255);
        }
        return output;
    }

    static bool IsPatchBorder(int v, int size, int cells)
    {
        int cell = v * cells / size;
        return (v + 1) * cells / size != cell || v == 0 || (v - 1) * cells / size != cell;
    }

    /// <summary>Panels in a grid of <paramref name="columns"/>, each with its label (method and kept
    /// tokens) written under it, so an overlay can be read without the table beside it.</summary>
    public static RgbImage LabelledGrid(IReadOnlyList<RgbImage> panels, IReadOnlyList<string> labels, int columns = 5, int gap = 8, int labelHeight = 30)
    {
        if (panels.Count != labels.Count) throw new ArgumentException($"{panels.Count} panels for {labels.Count} labels");
        int pw = panels.Max(p => p.Width), ph = panels.Max(p => p.Height);
        int cols = Math.Min(columns, panels.Count), rows = (panels.Count + cols - 1) / cols;
        int w = cols * pw + (cols - 1) * gap, h = rows * (ph + labelHeight) + (rows - 1) * gap;
        var m = new RgbImage(w, h, ((byte)255, (byte)255, (byte)255));
        using var strip = new SkiaSharp.SKBitmap(pw, labelHeight, SkiaSharp.SKColorType.Rgba8888, SkiaSharp.SKAlphaType.Opaque);
        using var canvas = new SkiaSharp.SKCanvas(strip);
        using var font = new SkiaSharp.SKFont(SkiaSharp.SKTypeface.Default, labelHeight * 0.6f);
        using var ink = new SkiaSharp.SKPaint { Color = SkiaSharp.SKColors.Black, IsAntialias = true };
        for (int i = 0; i < panels.Count; i++)
        {
            int x = i % cols * (pw + gap), y = i / cols * (ph + labelHeight + gap);
            m.Paste(panels[i], x, y);
            canvas.Clear(SkiaSharp.SKColors.White);
            canvas.DrawText(labels[i], 4, labelHeight * 0.72f, SkiaSharp.SKTextAlign.Left, font, ink);
            for (int ly = 0; ly < labelHeight; ly++)
                for (int lx = 0; lx < pw; lx++)
                {
                    var c = strip.GetPixel(lx, ly);
                    int dst = ((y + ph + ly) * w + x + lx) * 3;
                    m.Pixels[dst] = c.Red;
                    m.Pixels[dst + 1] = c.Green;
                    m.Pixels[dst + 2] = c.Blue;
                }
        }
        return m;
    }

    /// <summary>Panels side by side with a gap.</summary>
    public static RgbImage Montage(IReadOnlyList<RgbImage> panels, int gap = 6)
    {
        int h = panels.Max(p => p.Height), w = panels.Sum(p => p.Width) + gap * (panels.Count - 1);
        var m = new RgbImage(w, h, ((byte)255, (byte)255, (byte)255));
        int x = 0;
        foreach (var p in panels)
        {
            m.Paste(p, x, 0);
            x += p.Width + gap;
        }
        return m;
    }
}
