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
