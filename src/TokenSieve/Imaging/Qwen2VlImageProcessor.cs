namespace TokenSieve.Imaging;

/// <summary>The (temporal, height, width) patch grid of one image: <c>image_grid_thw</c>.</summary>
public readonly record struct Qwen2VlGrid(int T, int H, int W)
{
    public int PatchCount => T * H * W;
}

/// <summary>One preprocessed image: <see cref="PixelValues"/> is float32 [<see cref="PatchCount"/>,
/// <see cref="PatchLength"/>] row-major, rows in merge-window order, each row (channel, frame, y, x) flattened;
/// <see cref="MergedTokenCount"/> is how many <c>&lt;|image_pad|&gt;</c> ids the image takes after the 2×2 merge;
/// <see cref="Resized"/> is the uint8 image the patches were cut from.</summary>
public sealed record Qwen2VlImagePatches(float[] PixelValues, int PatchCount, int PatchLength, Qwen2VlGrid Grid, int MergedTokenCount, RgbImage Resized);

/// <summary>transformers' <c>Qwen2VLImageProcessor</c> (4.45) for a still image:
/// <list type="number">
/// <item><see cref="SmartResize"/> picks (h̄, w̄), multiples of factor = patch·merge (28) near the original
/// size with h̄·w̄ within [min_pixels, max_pixels];</item>
/// <item>Pillow's resize of the uint8 RGB image to w̄×h̄ (<see cref="PilResample"/>, bicubic by default; each
/// axis may grow or shrink independently);</item>
/// <item>float32(u8 · rescale_factor) with the product in double (numpy's uint8 · Python float), then
/// (x − mean) / std in float32;</item>
/// <item>the image repeated temporal_patch_size (T = 2) times, so grid_t = 1;</item>
/// <item>patches of P×P (14) pixels cut and flattened in <b>merge-window order</b>: the h/M × w/M windows of
/// M×M (2×2) patches row-major, inside each window its patches row-major; a row is (c, t, py, px) flattened,
/// 3·T·P·P = 1176 values, which makes PatchEmbed's Conv3d a matrix product and puts each window's M² rows
/// next to each other for the PatchMerger.</item>
/// </list></summary>
public sealed class Qwen2VlImageProcessor
{
    public Qwen2VlImageProcessorConfig Config { get; }

    public Qwen2VlImageProcessor(Qwen2VlImageProcessorConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
    }

    /// <summary>Reads a preprocessor_config.json (or the one in a model folder).</summary>
    public static Qwen2VlImageProcessor FromFile(string path) => new(Qwen2VlImageProcessorConfig.Load(path));

    /// <summary>Decodes <paramref name="imagePath"/> and preprocesses it; an image the arithmetic rejects
    /// (too small, too elongated) is reported as an <see cref="ImageSizeException"/> naming the file.</summary>
    public Qwen2VlImagePatches Preprocess(string imagePath)
    {
        return Preprocess(ImageDecoder.Load(imagePath), imagePath);
    }

    /// <summary>Preprocesses a decoded image; <paramref name="file"/> (where it came from) only names it in errors.</summary>
    public Qwen2VlImagePatches Preprocess(RgbImage image, string? file = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var c = Config;
        int factor = c.Factor;
        var (height, width) = c.DoResize
            ? SmartResize(image.Height, image.Width, factor, c.MinPixels, c.MaxPixels, file)
            : (image.Height, image.Width);
        if (height % factor != 0 || width % factor != 0)
            throw new ImageSizeException(file, image.Width, image.Height, $"with do_resize off, both sides must be multiples of {factor} (patch_size·merge_size)");
        var resized = height == image.Height && width == image.Width ? image : PilResample.Resize(image, width, height, c.Resample);
        float[] planes = RescaleNormalizeToChw(resized);
        var grid = new Qwen2VlGrid(1, height / c.PatchSize, width / c.PatchSize);
        float[] patches = FlattenPatches(planes, height, width, c.PatchSize, c.MergeSize, c.TemporalPatchSize);
        int patchLength = 3 * c.TemporalPatchSize * c.PatchSize * c.PatchSize;
        return new Qwen2VlImagePatches(patches, grid.PatchCount, patchLength, grid, grid.PatchCount / (c.MergeSize * c.MergeSize), resized);
    }

    /// <summary>transformers' <c>smart_resize</c> in double precision, as Python computes it: both sides rounded
    /// to multiples of <paramref name="factor"/> (round half to even: 70/28 = 2.5 → 56); if the area then exceeds
    /// <paramref name="maxPixels"/>, β = √(h·w/max) and each side becomes ⌊side/β/factor⌋·factor; if it falls below
    /// <paramref name="minPixels"/>, β = √(min/(h·w)) and ⌈side·β/factor⌉·factor. Rejects a side below the factor and
    /// an aspect ratio above 200 (the reference's ValueErrors), and the zero side the floor branch can produce for
    /// very elongated images (the reference's resize then fails).</summary>
    internal static (int Height, int Width) SmartResize(int height, int width, int factor, int minPixels, int maxPixels, string? file = null)
    {
        if (factor <= 0) throw new InvalidInputException($"smart_resize: factor {factor} must be positive");
        if (height < factor || width < factor)
            throw new ImageSizeException(file, width, height, $"height {height} or width {width} is smaller than {factor} px (patch_size·merge_size); Qwen2-VL cannot take it");
        double aspect = (double)Math.Max(height, width) / Math.Min(height, width);
        if (aspect > 200)
            throw new ImageSizeException(file, width, height, $"aspect ratio {aspect.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} is above Qwen2-VL's limit of 200");
        long hBar = (long)Math.Round((double)height / factor, MidpointRounding.ToEven) * factor;
        long wBar = (long)Math.Round((double)width / factor, MidpointRounding.ToEven) * factor;
        string branch = "rounding";
        if (hBar * wBar > maxPixels)
        {
            double beta = Math.Sqrt((double)((long)height * width) / maxPixels);
            hBar = (long)Math.Floor(height / beta / factor) * factor;
            wBar = (long)Math.Floor(width / beta / factor) * factor;
            branch = $"max_pixels {maxPixels}";
        }
        else if (hBar * wBar < minPixels)
        {
            double beta = Math.Sqrt(minPixels / (double)((long)height * width));
            hBar = (long)Math.Ceiling(height * beta / factor) * factor;
            wBar = (long)Math.Ceiling(width * beta / factor) * factor;
            branch = $"min_pixels {minPixels}";
        }
        // Only the floor branch can end below min_pixels, with a zero side (the reference's resize then fails).
        if (hBar * wBar < minPixels)
            throw new ImageSizeException(file, width, height, $"too elongated for {branch}: it would be resized to {wBar}x{hBar}, below min_pixels {minPixels}{(hBar <= 0 || wBar <= 0 ? " (a side of zero)" : "")}");
        if (hBar > int.MaxValue / 2 || wBar > int.MaxValue / 2 || hBar * wBar * 3 > Array.MaxLength)
            throw new ImageSizeException(file, width, height, $"it would be resized to {wBar}x{hBar}, too large; lower max_pixels");
        return ((int)hBar, (int)wBar);
    }

    /// <summary>HWC uint8 → CHW float32: rescale in double rounded to float32, normalise in float32.</summary>
    float[] RescaleNormalizeToChw(RgbImage image)
    {
        var c = Config;
        int plane = image.Width * image.Height;
        var chw = new float[plane * 3];
        double factor = c.DoRescale ? c.RescaleFactor : 1.0;
        for (int ch = 0; ch < 3; ch++)
        {
            float mean = c.DoNormalize ? (float)c.ImageMean[ch] : 0f;
            float std = c.DoNormalize ? (float)c.ImageStd[ch] : 1f;
            var dst = chw.AsSpan(ch * plane, plane);
            for (int p = 0; p < plane; p++)
            {
                float v = (float)(image.Pixels[p * 3 + ch] * factor);
                dst[p] = c.DoNormalize ? (v - mean) / std : v;
            }
        }
        return chw;
    }

    /// <summary>The reference's reshape to (t, T, C, h/M, M, P, w/M, M, P), transpose to (t, h/M, w/M, M, M, C, T, P, P)
    /// and flatten, for a still image repeated T times.</summary>
    internal static float[] FlattenPatches(float[] chw, int height, int width, int patch, int merge, int temporal)
    {
        int gridH = height / patch, gridW = width / patch;
        int windowsH = gridH / merge, windowsW = gridW / merge;
        int rowLength = 3 * temporal * patch * patch;
        int plane = height * width;
        var rows = new float[gridH * gridW * rowLength];
        int row = 0;
        for (int wh = 0; wh < windowsH; wh++)
            for (int ww = 0; ww < windowsW; ww++)
                for (int mh = 0; mh < merge; mh++)
                    for (int mw = 0; mw < merge; mw++, row++)
                    {
                        int y0 = (wh * merge + mh) * patch, x0 = (ww * merge + mw) * patch;
                        int at = row * rowLength;
                        for (int ch = 0; ch < 3; ch++)
                            for (int t = 0; t < temporal; t++)  // the T frames are the same still image
                                for (int py = 0; py < patch; py++, at += patch)
                                    chw.AsSpan(ch * plane + (y0 + py) * width + x0, patch).CopyTo(rows.AsSpan(at, patch));
                    }
        return rows;
    }
}
