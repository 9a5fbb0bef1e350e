namespace TokenSieve.Models;

/// <summary>3-D M-RoPE position ids of a prompt: <see cref="Coordinates"/> is axis-major [3, Length]
/// (t, then h, then w, as transformers' position_ids [3, 1, S]); a token appended at cache index
/// c ≥ Length sits at c + <see cref="Delta"/> on every axis (rope_deltas = max position + 1 − Length).</summary>
public sealed record MropePositions(int[] Coordinates, int Length, int Delta)
{
    public const int Axes = 3;

    /// <summary>Position of row <paramref name="row"/> on axis <paramref name="axis"/> (0 t, 1 h, 2 w).</summary>
    public int At(int axis, int row) => Coordinates[axis * Length + row];

    /// <summary>The largest position id of the prompt.</summary>
    public int Max => Length == 0 ? -1 : Coordinates.Max();
}

/// <summary>One image's (or video's) run of visual rows in a prompt for <see cref="MropeIndex"/>: the
/// merged grid (t, h/merge, w/merge) and, per row, its cell on that grid; null cells mean every cell
/// in raster order (the unreduced image).</summary>
public sealed record MropeImage(int Start, int Count, int GridT, int GridH, int GridW, (int T, int H, int W)[]? Cells = null);

/// <summary>transformers' <c>Qwen2VLForConditionalGeneration.get_rope_index</c> (4.45) over text and
/// images: text rows take consecutive ids on all three axes; an image's rows take base + (t, h, w) of
/// their cell, base being the next text id; the text after it continues at base + max(t, h, w) of
/// the merged grid — not base + rows. A reduced image keeps the ids of the cells its rows come from
/// and the text after it keeps its ids, so positions equal those of the unreduced prompt.</summary>
public static class MropeIndex
{
    public static MropePositions Build(int length, IReadOnlyList<MropeImage> images)
    {
        var c = new int[MropePositions.Axes * length];
        int row = 0, next = 0;
        void Text(int end)
        {
            for (; row < end; row++, next++)
                for (int a = 0; a < MropePositions.Axes; a++) c[a * length + row] = next;
        }
        for (int i = 0; i < images.Count; i++)
        {
            var im = images[i];
            if (im.Start < row || im.Start + im.Count > length || im.Count < 0)
                throw new InvalidInputException($"image {i}: rows {im.Start}..{im.Start + im.Count - 1} are outside the prompt of {length} or overlap the previous image");
            if (im.GridT < 1 || im.GridH < 1 || im.GridW < 1) throw new InvalidInputException($"image {i}: merged grid {im.GridT}x{im.GridH}x{im.GridW} is empty");
            long cells = (long)im.GridT * im.GridH * im.GridW;
            if (im.Cells is null ? im.Count != cells : im.Cells.Length != im.Count)
                throw new InvalidInputException($"image {i}: {im.Count} rows for {(im.Cells is null ? $"a merged grid of {cells} cells" : $"{im.Cells.Length} cells")}");
            Text(im.Start);
            int baseId = next;
            for (int k = 0; k < im.Count; k++, row++)
            {
                var (t, h, w) = im.Cells is null ? (k / (im.GridH * im.GridW), k / im.GridW % im.GridH, k % im.GridW) : im.Cells[k];
                if ((uint)t >= (uint)im.GridT || (uint)h >= (uint)im.GridH || (uint)w >= (uint)im.GridW)
                    throw new InvalidInputException($"image {i}: row {k}'s cell ({t},{h},{w}) is outside its {im.GridT}x{im.GridH}x{im.GridW} grid");
                c[row] = baseId + t;
                c[length + row] = baseId + h;
                c[2 * length + row] = baseId + w;
            }
            next = baseId + Math.Max(im.GridT, Math.Max(im.GridH, im.GridW));
        }
        Text(length);
        int max = length == 0 ? -1 : c.Max();
        return new MropePositions(c, length, max + 1 - length);
    }
}
