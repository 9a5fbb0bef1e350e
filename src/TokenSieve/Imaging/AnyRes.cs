namespace TokenSieve.Imaging;

/// <summary>LLaVA-NeXT's "anyres" geometry (transformers 4.45.1, image_processing_llava_next.py and
/// modeling_llava_next.py), as integer and float64 arithmetic in the reference's order, so the sizes
/// agree exactly — including its float-rounding quirks.</summary>
public static class AnyRes
{
    /// <summary>select_best_resolution: for each (H, W) in list order, scale = min(W/w, H/h),
    /// effective = min(int(w·scale)·int(h·scale), w·h), waste = H·W − effective; the largest effective
    /// wins, then the smallest waste; strict comparisons, so the first candidate wins a full tie.</summary>
    public static (int Height, int Width) SelectBestResolution(int height, int width, IReadOnlyList<(int Height, int Width)> candidates)
    {
        if (candidates.Count == 0) throw new InvalidInputException("anyres: no candidate resolutions (image_grid_pinpoints is empty)");
        if (height <= 0 || width <= 0) throw new InvalidInputException($"anyres: image size {width}x{height} must be positive");
        (int, int) best = candidates[0];
        long bestEffective = -1, leastWaste = long.MaxValue;
        foreach (var (h, w) in candidates)
        {
            double scale = Math.Min((double)w / width, (double)h / height);
            long dw = (long)(width * scale), dh = (long)(height * scale);
            long effective = Math.Min(dw * dh, (long)width * height);
            long waste = (long)w * h - effective;
            if (effective > bestEffective || (effective == bestEffective && waste < leastWaste))
            {
                bestEffective = effective;
                leastWaste = waste;
                best = (h, w);
            }
        }
        return best;
    }

    /// <summary>_get_patch_output_size: the size the image is resized to inside the target, keeping its
    /// aspect (the longer relative side fills the target, the other is ceil'd and capped).</summary>
    public static (int Height, int Width) ResizedSize(int height, int width, (int Height, int Width) target)
    {
        double scaleW = (double)target.Width / width, scaleH = (double)target.Height / height;
        return scaleW < scaleH
            ? ((int)Math.Min(Math.Ceiling(height * scaleW), target.Height), target.Width)
            : (target.Height, (int)Math.Min(Math.Ceiling(width * scaleH), target.Width));
    }

    /// <summary>_pad_for_patching: ⌊(H−h′)/2⌋ black rows on top and bottom and ⌊(W−w′)/2⌋ columns left
    /// and right, so an odd difference leaves the result one pixel short of the target.</summary>
    public static (int Height, int Width, int Top, int Left) PaddedSize((int Height, int Width) resized, (int Height, int Width) target)
    {
        int top = (target.Height - resized.Height) / 2, left = (target.Width - resized.Width) / 2;
        return (resized.Height + 2 * top, resized.Width + 2 * left, top, left);
    }

    /// <summary>The tile grid (rows, columns) of a best resolution: get_anyres_image_grid_shape.</summary>
    public static (int Rows, int Cols) TileGrid((int Height, int Width) best, int tileSize) => (best.Height / tileSize, best.Width / tileSize);

    /// <summary>unpad_image on a feature grid of <paramref name="gridHeight"/>×<paramref name="gridWidth"/>
    /// for an original image of <paramref name="height"/>×<paramref name="width"/>: the rows or columns
    /// kept, [Top, Top+Rows) × [Left, Left+Cols). Computed in float64 in the reference's order
    /// (new = int(h·(W/w))): the product can land just below an integer and truncate one lower than
    /// exact arithmetic, and an odd difference keeps one extra row or column.</summary>
    public static (int Top, int Rows, int Left, int Cols) Unpad(int height, int width, int gridHeight, int gridWidth)
    {
        double originalAspect = (double)width / height, currentAspect = (double)gridWidth / gridHeight;
        if (originalAspect > currentAspect)
        {
            double scale = (double)gridWidth / width;
            int newHeight = (int)(height * scale);
            int pad = (gridHeight - newHeight) / 2;
            return (pad, Math.Max(0, gridHeight - 2 * pad), 0, gridWidth);
        }
        else
        {
            double scale = (double)gridHeight / height;
            int newWidth = (int)(width * scale);
            int pad = (gridWidth - newWidth) / 2;
            return (0, gridHeight, pad, Math.Max(0, gridWidth - 2 * pad));
        }
    }

    /// <summary>Rows an image contributes to the decoder: the base tile's patches, then the unpadded
    /// grid with one newline per row.</summary>
    public static int FeatureLength(int height, int width, IReadOnlyList<(int Height, int Width)> pinpoints, int tileSize, int patchGrid)
    {
        var plan = Plan(height, width, pinpoints, tileSize, patchGrid);
        return patchGrid * patchGrid + plan.Unpadded.Rows * (plan.Unpadded.Cols + 1);
    }

    /// <summary>Everything about one image's anyres layout, from its size alone.</summary>
    public static AnyResPlan Plan(int height, int width, IReadOnlyList<(int Height, int Width)> pinpoints, int tileSize, int patchGrid)
    {
        var best = SelectBestResolution(height, width, pinpoints);
        var resized = ResizedSize(height, width, best);
        var padded = PaddedSize(resized, best);
        var tiles = TileGrid(best, tileSize);
        int gh = tiles.Rows * patchGrid, gw = tiles.Cols * patchGrid;
        return new AnyResPlan(height, width, best, resized, (padded.Height, padded.Width), (padded.Top, padded.Left), tiles, (gh, gw), Unpad(height, width, gh, gw));
    }
}

/// <summary>One image's anyres layout: its best resolution, the resized and padded sizes, the tile
/// grid, the feature grid (tiles × patches per side) and the part of it unpad_image keeps.</summary>
public sealed record AnyResPlan(
    int Height, int Width,
    (int Height, int Width) Best,
    (int Height, int Width) Resized,
    (int Height, int Width) Padded,
    (int Top, int Left) PasteOffset,
    (int Rows, int Cols) Tiles,
    (int Height, int Width) FeatureGrid,
    (int Top, int Rows, int Left, int Cols) Unpadded)
{
    /// <summary>Grid tiles plus the base tile.</summary>
    public int TileCount => Tiles.Rows * Tiles.Cols + 1;
}

/// <summary>LlavaNextImageProcessor (4.45.1): the base view (the image resized straight to S×S) and
/// the S×S tiles of the image resized into its best resolution and padded, each through the CLIP
/// step (shortest edge → S, centre crop, rescale, normalise). Tiles cut short by the padding's lost
/// pixel are resized by that step, as in the reference.</summary>
public sealed class AnyResProcessor
{
    public ImageProcessor Clip { get; }
    public IReadOnlyList<(int Height, int Width)> Pinpoints { get; }
    public int TileSize { get; }

    public AnyResProcessor(ImageProcessor clip, IReadOnlyList<(int Height, int Width)> pinpoints, int tileSize)
    {
        Clip = clip;
        Pinpoints = pinpoints;
        TileSize = tileSize;
        if (clip.Config.CropHeight != tileSize || clip.Config.CropWidth != tileSize)
            throw new ConfigException(null, "crop_size", $"the processor crops to {clip.Config.CropWidth}x{clip.Config.CropHeight} but the vision tower's tile is {tileSize}x{tileSize}");
    }

    /// <summary>The tiles' pixel values [3, S, S] each, base view first, and the plan they follow.</summary>
    public (List<float[]> Tiles, AnyResPlan Plan) Preprocess(RgbImage image, int patchGrid)
    {
        var plan = AnyRes.Plan(image.Height, image.Width, Pinpoints, TileSize, patchGrid);
        var views = Views(image, plan);
        var tiles = new List<float[]>(views.Count);
        foreach (var v in views) tiles.Add(Clip.Preprocess(v, AspectMode.Crop));
        return (tiles, plan);
    }

    /// <summary>The uint8 views before the CLIP step: base, then the tiles row-major.</summary>
    public List<RgbImage> Views(RgbImage image, AnyResPlan plan)
    {
        int s = TileSize;
        var views = new List<RgbImage>(plan.TileCount) { Same(image, s, s) };
        var resized = Same(image, plan.Resized.Width, plan.Resized.Height);
        var padded = new RgbImage(plan.Padded.Width, plan.Padded.Height);
        padded.Paste(resized, plan.PasteOffset.Left, plan.PasteOffset.Top);
        for (int y = 0; y < padded.Height; y += s)
        for (int x = 0; x < padded.Width; x += s)
            views.Add(padded.Crop(x, y, Math.Min(s, padded.Width - x), Math.Min(s, padded.Height - y)));
        if (views.Count != plan.TileCount)
            throw new InvalidInputException($"anyres: {views.Count - 1} tiles cut from a {padded.Width}x{padded.Height} image, the grid needs {plan.TileCount - 1}");
        return views;

        RgbImage Same(RgbImage im, int w, int h) => im.Width == w && im.Height == h ? im : PilResample.Resize(im, w, h, Clip.Config.Resample);
    }
}
